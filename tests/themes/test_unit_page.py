"""The unit page's "Recurring themes" block in both languages: no teacher named above a
department."""

from __future__ import annotations

import pytest

from evalsys.themes.service import themes_for_unit
from tests.themes.conftest import TEACHER_EN, TEACHER_ZH

T2 = "2026-2027-1"


@pytest.mark.parametrize(
    ("lang", "heading", "label", "trend"),
    [
        ("en", "Recurring themes", "interaction", "last term 1, now 4"),
        ("zh", "反复出现的主题", "课堂互动", "上学期 1，本学期 4"),
    ],
)
def test_the_college_page_shows_recurring_themes(
    themes_world, factory, client, auth, lang, heading, label, trend
):
    factory.user("dean_cs", "dean@CS")
    auth.login("dean_cs")
    page = client.get(f"/units/CS?term={T2}", headers={"Accept-Language": lang}).get_data(
        as_text=True
    )
    block = page[page.index('id="themes"') :]
    block = block[: block.index("</section>")]
    assert heading in page and label in block and trend in block
    # Quotes, but neither teacher nor section is named at college level.
    assert "“" in block
    for name in (TEACHER_ZH, "王老师", TEACHER_EN, "T2-SE1-0", "T2-AI1-0"):
        assert name not in block


def test_a_department_page_names_the_section_to_its_head(themes_world, factory, client, auth, app):
    factory.user("head_se", "head@CS-SE")
    auth.login("head_se")

    def block() -> str:
        page = client.get(f"/units/CS-SE?term={T2}", headers={"Accept-Language": "en"})
        return page.get_data(as_text=True).split('id="themes"')[1].split("</section>")[0]

    shown = block()
    assert "interaction" in shown and "T2-SE1-0" in shown
    assert "pace" not in shown  # two records, one observer
    app.config["THEMES_MIN_OBSERVERS"] = 1  # the site's setting
    assert "pace" in block()


def test_no_block_for_a_teacher_and_one_line_for_a_quiet_college(
    themes_world, factory, client, auth
):
    factory.user("wang2", "teacher@CS-SE")
    factory.user("dean_math", "dean@MATH")
    auth.login("wang2")
    page = client.get(f"/units/CS-SE?term={T2}").get_data(as_text=True)
    assert 'id="themes"' not in page  # the block is for readers of the unit's reports
    auth.logout()
    auth.login("dean_math")
    page = client.get(f"/units/MATH?term={T2}").get_data(as_text=True)
    assert "No theme recurs in the comments of several observers this term." in page


def test_the_reports_list_the_themes_without_naming_a_section(
    themes_world, factory, client, auth, session
):
    """The term report (its web view: the same body as the PDF) lists the unit's themes with
    their counts; a report travels further than the page, so even the department's, read by
    its head, names no section and no teacher."""
    factory.user("head_se", "head@CS-SE", "dean@CS")
    auth.login("head_se")
    for unit in ("CS", "CS-SE"):
        page = client.get(f"/reports/{T2}/{unit}.html", headers={"Accept-Language": "en"})
        assert page.status_code == 200, unit
        text = page.get_data(as_text=True)
        block = text[text.index('class="report-themes"') :]
        block = block[: block.index("</section>")]
        # The service's own counts (checked against the raw texts in test_service.py).
        [theme] = [
            t
            for t in themes_for_unit(
                session, themes_world.uni.units[unit].id, themes_world.uni.terms["T2"].id
            )
            if t.key == "interaction"
        ]
        trend = f"last term {theme.previous}, now {theme.records}"
        assert "interaction" in block and trend in block, (unit, trend)
        assert "pace" not in block  # two records, one observer: no recurring theme
        for name in (TEACHER_ZH, "王老师", TEACHER_EN, "T2-SE1-0", "T2-AI1-0"):
            assert name not in block, (unit, name)
