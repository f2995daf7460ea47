"""The password policy: what every new password must pass, wherever it is set.

One rule for the ``evalsys set-password`` command, the set-password link of an
invitation or a reset, and "change my password": ``service.set_password`` asks
:func:`problems` before it hashes anything, and refuses the password if there are
any. The rules follow NIST SP 800-63B rather than composition rules (no "one digit,
one capital"): long enough, not one of the passwords attackers try first, not the
user's own name.

- at least :data:`MIN_LENGTH` characters (and at most :data:`MAX_LENGTH`, what the
  forms take);
- not one of the 10,000 most common passwords (compared lowercased), from
  ``common-passwords.txt`` beside this module;
- not containing the username, the name or the local part of the email address
  (compared lowercased, spaces ignored), when that word is long enough to mean
  something (:func:`_personal_words`).

``common-passwords.txt`` is the first 10,000 lines of the list Django ships as
``django/contrib/auth/common-passwords.txt.gz`` (Django 5.2.19, BSD licence): Royce
Williams' list of the 20,000 passwords most often found in breaches (Have I Been
Pwned's Pwned Passwords, ordered by count), lowercased and deduplicated
(https://gist.github.com/roycewilliams/226886fd01572964e1431ac8afc999ce). One
password a line, most common first, nothing else in the file.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Protocol

from flask_babel import gettext as _

MIN_LENGTH = 10
#: What the password forms take; a longer one is refused, not cut.
MAX_LENGTH = 200
#: The file of common passwords, shipped in the wheel (pyproject.toml package-data).
COMMON_FILE = "common-passwords.txt"
#: A personal word shorter than this is not looked for inside a password (two letters of
#: a Latin name are in too many words); written in Chinese, two characters are a name.
MIN_WORD = 3
MIN_WORD_CJK = 2


class Person(Protocol):
    """What the policy reads of a user (a stored ``User``, or one being created)."""

    username: str
    name: str
    email: str | None


@cache
def common_passwords() -> frozenset[str]:
    """The 10,000 most common passwords, lowercased (read once per process)."""
    text = resources.files("evalsys.accounts").joinpath(COMMON_FILE).read_text("utf-8")
    return frozenset(line for line in text.splitlines() if line)


def _folded(text: str) -> str:
    return "".join(text.lower().split())


def _long_enough(word: str) -> bool:
    cjk = any("\u2e80" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" for ch in word)
    return len(word) >= (MIN_WORD_CJK if cjk else MIN_WORD)


def _personal_words(person: Person) -> list[tuple[str, str]]:
    """(what it is, the word) for each personal word of ``person`` worth refusing."""
    local = (person.email or "").partition("@")[0]
    words = [
        (_("your username"), _folded(person.username)),
        (_("your name"), _folded(person.name or "")),
        (_("your email address"), _folded(local)),
    ]
    return [(label, word) for label, word in words if word and _long_enough(word)]


def problems(password: str, person: Person) -> list[str]:
    """Every rule ``password`` breaks, as sentences for the reader (none: it passes)."""
    found = []
    if len(password) < MIN_LENGTH:
        found.append(_("The password must have at least %(num)d characters.", num=MIN_LENGTH))
    elif len(password) > MAX_LENGTH:
        found.append(_("The password may have at most %(num)d characters.", num=MAX_LENGTH))
    if password.lower() in common_passwords():
        found.append(
            _("This password is one of the 10,000 most common ones: choose one nobody guesses.")
        )
    folded = _folded(password)
    for label, word in _personal_words(person):
        if word in folded:
            found.append(_("The password must not contain %(what)s.", what=label))
    return found
