"""The password policy: each rule refuses with a sentence saying why, in the reader's language,
and nothing is written; the list of common passwords is the one shipped in the package."""

from __future__ import annotations

import pytest
from sqlmodel import select

from evalsys.accounts import policy, service
from evalsys.accounts.models import User
from evalsys.i18n import in_locale


@pytest.fixture
def wang(factory, session) -> User:
    factory.university()
    user = factory.user("wangfang", "teacher@CS-SE", name="Wang Fang", password=None)
    user.email = "fang.wang@example.edu"
    session.add(user)
    session.commit()
    return user


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short pw", "at least 10 characters"),
        ("x" * 201, "at most 200 characters"),
        ("1234567890", "10,000 most common"),
        ("Qwertyuiop", "10,000 most common"),  # the list is compared lowercased
        ("password123", "10,000 most common"),
        ("I am WangFang, hello", "must not contain your username"),
        ("I am wang fang, hello", "must not contain your username"),  # spaces are ignored
        ("mr. fang.wang here", "must not contain your email address"),
    ],
)
def test_each_rule_refuses_and_says_why(session, wang, password, reason):
    before = wang.password_hash
    with in_locale("en"), pytest.raises(service.PasswordRejected) as refused:
        service.set_password(session, wang, password)
    assert reason in str(refused.value)
    session.rollback()
    stored = session.exec(select(User).where(User.username == "wangfang")).one()
    assert stored.password_hash == before is None


def test_every_broken_rule_is_named(session, wang):
    with in_locale("en"):
        found = policy.problems("wangfang", wang)
    assert any("at least 10" in p for p in found)
    assert any("your username" in p for p in found)
    assert any("your name" in p for p in found)


def test_a_good_password_passes_and_is_hashed_as_before(session, wang):
    service.set_password(session, wang, "three plain words together")
    session.commit()
    assert wang.password_hash.startswith("scrypt:")
    assert service.authenticate(session, "wangfang", "three plain words together") is not None


def test_the_refusal_speaks_the_readers_language(app, wang):
    with app.app_context(), in_locale("zh"):
        found = policy.problems("123456789", wang)
    assert "密码至少要有 10 个字符。" in found
    assert any("一万个" in p for p in found)


def test_short_personal_words_are_not_looked_for(session, factory):
    """A two-letter Latin name is inside too many words to refuse them; a Chinese name of
    two characters is a name, and is refused."""
    factory.university()
    li = factory.user("li", "teacher@CS-SE", name="Li", password=None)
    zhang = factory.user("zw", "teacher@CS-SE", name="张伟", password=None)
    assert policy.problems("limousine in the rain", li) == []
    with in_locale("en"):
        assert policy.problems("我是张伟我的密码很长", zhang) == [
            "The password must not contain your name."
        ]


def test_the_shipped_list_holds_ten_thousand_lowercase_passwords():
    common = policy.common_passwords()
    assert len(common) == 10_000
    assert {"123456", "password", "qwerty", "iloveyou", "1q2w3e4r5t"} <= common
    assert all(p == p.lower() for p in common)
