"""templates/_macros.html: the pager under every paged list and the coverage share."""

from __future__ import annotations

import pytest
from flask import render_template_string

from evalsys.pagination import Page


@pytest.fixture
def request_context(app):
    with app.test_request_context():
        yield


def pager(page) -> str:
    return render_template_string(
        '{% from "_macros.html" import pager %}'
        "{{ pager(page, 'feedback.sections', {'kind': 'spot_check', 'q': '软件'}) }}",
        page=page,
    )


def test_the_pager_links_only_to_pages_that_exist_and_keeps_the_query(request_context):
    first = pager(Page(items=[], page=1, per_page=25, total=60))
    assert "Page 1 of 3" in first and 'rel="prev"' not in first
    assert 'href="/feedback/sections?page=2&amp;kind=spot_check&amp;q=' in first
    middle = pager({"page": 2, "pages": 3})  # a view's plain numbers serve as well
    assert 'href="/feedback/sections?page=1&amp;' in middle and "page=3&amp;" in middle
    last = pager({"page": 3, "pages": 3})
    assert 'rel="prev"' in last and 'rel="next"' not in last


def test_one_page_needs_no_pager(request_context):
    assert pager(Page(items=[], page=1, per_page=25, total=25)).strip() == ""
    assert pager({"page": 1, "pages": 1}).strip() == ""


@pytest.mark.parametrize(
    ("share", "shown"),
    [
        ({"part": 3, "total": 4, "percent": 75.0}, "3 of 4 (75%)"),
        ({"part": 0, "total": 9, "percent": 0.0}, "0 of 9 (0%)"),
        (None, "—"),
    ],
)
def test_share_says_part_of_total_and_percent(request_context, share, shown):
    html = render_template_string('{% from "_macros.html" import share %}{{ share(s) }}', s=share)
    assert html.strip() == shown
