"""Every page of the access matrix, in Chinese and in English, shows none of the other language.

A hard-coded English word on a Chinese page (or Chinese on an English one) means a
string that bypasses the catalogue. Data is exempt: every word stored in the database
may appear in either language (see :mod:`tests.i18n.visible`).
"""

from __future__ import annotations

import pytest
from flask import Flask, url_for

from tests.fixtures.security_world import PRINCIPALS, SecurityWorld
from tests.i18n.visible import data_words, foreign_words
from tests.security.test_access_matrix import ACCESS, Principals, _fill, _url_values, endpoint_of

#: Who opens each page: the first of these the row lets in.
ORDER = ("anon", "root", "admin", "dean", "head", "leader", "supervisor", "tutor", "teacher")
ACCEPT = {"zh": "zh-CN,zh;q=0.9", "en": "en-GB,en;q=0.9"}


@pytest.mark.parametrize("locale", ["zh", "en"])
def test_no_page_shows_the_other_language(locale: str, app: Flask, sworld: SecurityWorld, session):
    allowed = data_words(session)
    principals = Principals(app)
    problems: list[str] = []
    looked = 0
    for key, row in sorted(ACCESS.items()):
        endpoint = endpoint_of(key)
        rule, values = _url_values(app, endpoint, row, sworld, inside=True)
        if "GET" not in row.tried(rule.methods):
            continue
        who = next((p for p in ORDER if p in row.allowed_for(True) and p in PRINCIPALS), None)
        if who is None:
            continue
        with app.test_request_context():
            path = url_for(endpoint, **{k: values[k] for k in rule.arguments})
        query = {k: _fill(v, values) for k, v in row.query.items()}
        response = principals.client(who).get(
            path, query_string=query, headers={"Accept-Language": ACCEPT[locale]}
        )
        if response.status_code == 200 and response.mimetype == "text/html":
            looked += 1
            words = foreign_words(response.get_data(as_text=True), locale, allowed)
            if words:
                problems.append(f"{path} as {who}: {' '.join(words[:25])}")
        response.close()
    assert looked > 0
    assert not problems, (
        f"{len(problems)} pages in {locale} show the other language:\n" + "\n".join(problems)
    )
