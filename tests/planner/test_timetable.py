"""Section timetables: parsing, and the optional `meetings` column of sections.csv."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from evalsys.importer.service import import_tables
from evalsys.org.models import Section
from evalsys.org.timetable import Meeting, TimetableError, format_meetings, parse_meetings
from tests.factories import Factory


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Mon 1-2; Wed 3-4", "Mon 1-2; Wed 3-4"),
        ("wed 3-4，mon 1-2", "Mon 1-2; Wed 3-4"),
        ("周三 5-6节; 星期日 9", "Wed 5-6; Sun 9"),
        ("2 3 - 4", "Tue 3-4"),
        ("", ""),
        ("Mon 1-2; Mon 1-2", "Mon 1-2"),
    ],
)
def test_meetings_are_read_in_the_usual_spellings(text: str, expected: str):
    assert format_meetings(parse_meetings(text)) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Mon", "is not a weekday and periods"),
        ("Mo 1-2", "'Mo' in 'Mo 1-2' is not a weekday"),
        ("Mon 4-3", "must run forwards within 1..14"),
        ("Mon 0", "must run forwards"),
        ("Fri 13-15", "must run forwards"),
        ("Mon 1-3; Mon 3-4", "'Mon 1-3' and 'Mon 3-4' overlap"),
    ],
)
def test_bad_meetings_are_refused_with_the_part_named(text: str, message: str):
    with pytest.raises(TimetableError, match=message):
        parse_meetings(text)


def test_clashes_need_the_same_day_and_overlapping_periods():
    assert Meeting(1, 1, 3).clashes(Meeting(1, 3, 4))
    assert not Meeting(1, 1, 2).clashes(Meeting(1, 3, 4))
    assert not Meeting(1, 1, 2).clashes(Meeting(2, 1, 2))


def _tables(meetings: str | None) -> dict[str, list[dict[str, str]]]:
    row = {"code": "SE-01", "course": "SE101", "term": "T1", "teacher": "", "enrolled": "30"}
    if meetings is not None:
        row["meetings"] = meetings
    return {"sections.csv": [row]}


def test_sections_csv_imports_meetings_and_leaves_them_alone_without_the_column(
    session: Session, factory: Factory
):
    units = factory.university()
    factory.term("T1")
    factory.course("SE101", units["CS-SE"])
    result = import_tables(session, _tables("wed 3-4, Mon 1-2"))
    assert result.ok, result.report_lines()
    session.commit()
    section = session.exec(select(Section).where(Section.code == "SE-01")).one()
    assert section.meetings == "Mon 1-2; Wed 3-4"
    # The same timetable in another spelling changes nothing; no column keeps it.
    again = import_tables(session, _tables("周一 1-2；周三 3-4"))
    assert again.counts["sections.csv"] == {"created": 0, "updated": 0, "unchanged": 1}
    assert import_tables(session, _tables(None)).counts["sections.csv"]["unchanged"] == 1
    session.commit()
    session.refresh(section)
    assert section.meetings == "Mon 1-2; Wed 3-4"


def test_a_bad_timetable_cell_is_reported_with_file_row_and_column(
    session: Session, factory: Factory
):
    units = factory.university()
    factory.term("T1")
    factory.course("SE101", units["CS-SE"])
    result = import_tables(session, _tables("Mon 1-2; Xyz 3"))
    assert not result.ok
    assert [str(e) for e in result.errors] == [
        "sections.csv, row 2, column meetings: 'Xyz' in 'Xyz 3' is not a weekday"
        " (Mon..Sun, 1..7 or 周一..周日)"
    ]
    assert session.exec(select(Section)).first() is None


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_timetable_errors_are_in_the_readers_language(app, locale: str):
    """The import preview shows these to an admin: in their language, the cell quoted as typed."""
    from flask_babel import gettext

    from evalsys.i18n import in_locale

    with app.test_request_context(), in_locale(locale):
        with pytest.raises(TimetableError) as err:
            parse_meetings("Mon 1-2; Mon 2-3")
        expected = gettext(
            "'%(a)s' and '%(b)s' overlap: a section meets once at a time", a="Mon 1-2", b="Mon 2-3"
        )
    assert str(err.value) == expected and "Mon 1-2" in expected and "Mon 2-3" in expected
    assert ("overlap" in expected) == (locale == "en")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Mon 1-2 @ 教三-201", "Mon 1-2 @ 教三-201"),
        ("周三 3-4节@B 204; Mon 1", "Mon 1; Wed 3-4 @ B 204"),
        ("Mon 1-2 @ A-1; Mon 1-2 @ A-1", "Mon 1-2 @ A-1"),
    ],
)
def test_a_meeting_may_name_its_room(text, expected):
    meetings = parse_meetings(text)
    assert format_meetings(meetings) == expected
    assert parse_meetings(format_meetings(meetings)) == meetings
    assert [m.room for m in parse_meetings(format_meetings(meetings))] == [m.room for m in meetings]


@pytest.mark.parametrize(
    "text, named",
    [
        ("Mon 1-2 @", "has an @ but no room"),
        ("Mon 1-2 @ " + "x" * 41, "longer than 40 characters"),
        ("Mon 1-2 @ A; Mon 1-2 @ B", "one slot in two rooms"),
    ],
)
def test_a_room_that_cannot_be_kept_is_named(text, named):
    with pytest.raises(TimetableError, match=named):
        parse_meetings(text)
