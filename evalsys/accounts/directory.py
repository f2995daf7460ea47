"""Checking a username and password against the LDAP directory (``LDAP_*`` settings).

A password is right when the directory accepts a **bind** with it; evalsys never reads
or stores directory passwords. Two ways to find whom to bind as:

- **direct bind**: ``LDAP_BIND_DN_TEMPLATE`` makes the DN (or, for Active Directory, the
  ``user@domain`` name) from the typed username, escaped so that ``,`` or ``=`` in it
  cannot name another entry;
- **search-then-bind**: a service account (or an anonymous search) looks the username up
  with ``LDAP_SEARCH_FILTER`` (the username escaped, so ``*)(uid=*`` matches nobody), and
  exactly one entry must answer; then evalsys binds as that entry.

The entry's ``LDAP_USER_ATTRIBUTE`` names the evalsys user; which user that is, and
whether they may sign in, is :mod:`evalsys.accounts.signin`'s business, not this module's.

A directory that cannot be reached (or that refuses the service account, or whose TLS
fails) is :class:`Unavailable`, kept apart from a refused password: the login page says
the directory could not be reached rather than blaming the user's password.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ldap3 import BASE, SUBTREE, Connection, Server, Tls
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import escape_rdn

log = logging.getLogger(__name__)


class Unavailable(Exception):
    """The directory could not be asked: down, too slow, TLS refused, or misconfigured."""


@dataclass(frozen=True)
class Identity:
    """Whom the directory accepted: the entry's DN and its ``LDAP_USER_ATTRIBUTE`` value."""

    dn: str
    value: str


def configured(config: Mapping[str, Any]) -> bool:
    """Is a directory set up (``LDAP_URL`` not empty)?"""
    return bool(str(config.get("LDAP_URL") or "").strip())


def _server(config: Mapping[str, Any]) -> Server:
    # Certificates are always checked: a directory login sends the user's password.
    tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=config.get("LDAP_CA_FILE") or None)
    return Server(str(config["LDAP_URL"]).strip(), connect_timeout=_timeout(config), tls=tls)


def _timeout(config: Mapping[str, Any]) -> int:
    # Whole seconds: ldap3 packs the receive timeout into a struct as an integer.
    return max(1, round(float(config.get("LDAP_TIMEOUT_SECONDS") or 10)))


def _connect(
    config: Mapping[str, Any], server: Server, user: str | None, password: str | None
) -> Connection:
    """An open connection (StartTLS done where asked), not yet bound."""
    conn = Connection(
        server,
        user=user,
        password=password,
        receive_timeout=_timeout(config),
        read_only=True,
        auto_referrals=False,  # Active Directory answers searches from the root with referrals
        raise_exceptions=False,
    )
    try:
        conn.open()
        if config.get("LDAP_START_TLS") and not conn.start_tls():
            raise Unavailable("StartTLS was refused")
    except BaseException:
        conn.unbind()
        # ldap3 leaves the socket of a refused connection open (a file handle per try).
        if conn.socket is not None:
            conn.socket.close()
        raise
    return conn


def _value(attributes: Mapping[str, Any], name: str) -> str | None:
    """The attribute's (first) value as text, matched case-insensitively as LDAP does."""
    for key, value in attributes.items():
        if key.lower() == name.lower():
            if isinstance(value, list):
                value = value[0] if value else None
            if isinstance(value, bytes):
                value = value.decode("utf-8", "replace")
            if value is None:
                return None
            return str(value).strip() or None
    return None


def _entries(conn: Connection) -> list[dict[str, Any]]:
    return [r for r in conn.response or [] if r.get("type") == "searchResEntry"]


def _search(conn: Connection, config: Mapping[str, Any], username: str) -> list[dict[str, Any]]:
    """The entries ``LDAP_SEARCH_FILTER`` finds for ``username`` (at most two: one is
    needed, two is as bad as ten)."""
    filter_ = str(config["LDAP_SEARCH_FILTER"]).replace("{username}", escape_filter_chars(username))
    conn.search(
        str(config["LDAP_SEARCH_BASE"]),
        filter_,
        search_scope=SUBTREE,
        attributes=[str(config["LDAP_USER_ATTRIBUTE"])],
        size_limit=2,
    )
    return _entries(conn)


def _direct(
    config: Mapping[str, Any], server: Server, username: str, password: str
) -> Identity | None:
    name = str(config["LDAP_BIND_DN_TEMPLATE"]).replace("{username}", escape_rdn(username))
    conn = _connect(config, server, name, password)
    try:
        if not conn.bind():
            return None
        attribute = str(config["LDAP_USER_ATTRIBUTE"])
        if config.get("LDAP_SEARCH_BASE"):
            # The bind name need not be a DN (Active Directory's user@domain): find the
            # entry with the filter, as the user just bound.
            entries = _search(conn, config, username)
        else:
            conn.search(name, "(objectClass=*)", search_scope=BASE, attributes=[attribute])
            entries = _entries(conn)
        if len(entries) != 1:
            log.warning("LDAP: %s bound but its entry could not be read", name)
            return None
        value = _value(entries[0].get("attributes") or {}, attribute)
        return Identity(dn=str(entries[0]["dn"]), value=value) if value else None
    finally:
        conn.unbind()


def _search_then_bind(
    config: Mapping[str, Any], server: Server, username: str, password: str
) -> Identity | None:
    service_dn = str(config.get("LDAP_SEARCH_BIND_DN") or "") or None
    service_password = str(config.get("LDAP_SEARCH_BIND_PASSWORD") or "") or None
    conn = _connect(config, server, service_dn, service_password)
    try:
        if not conn.bind():
            # Not the user's fault, and every login would fail alike: say so loudly.
            log.error("LDAP: the search account was refused: %s", conn.result)
            raise Unavailable("the search account was refused")
        entries = _search(conn, config, username)
    finally:
        conn.unbind()
    if len(entries) != 1:
        return None
    dn = str(entries[0]["dn"])
    value = _value(entries[0].get("attributes") or {}, str(config["LDAP_USER_ATTRIBUTE"]))
    user_conn = _connect(config, server, dn, password)
    try:
        if not user_conn.bind():
            return None
    finally:
        user_conn.unbind()
    return Identity(dn=dn, value=value) if value else None


def authenticate(config: Mapping[str, Any], username: str, password: str) -> Identity | None:
    """Whom the directory accepts ``username`` and ``password`` as; None when it refuses.

    Raises :class:`Unavailable` when it cannot be asked. An empty password is refused
    before anything is sent: LDAP reads a bind with a name and no password as an
    *unauthenticated* bind, which many servers answer with success.
    """
    username = username.strip()
    if not username or not password:
        return None
    server = _server(config)
    try:
        if config.get("LDAP_BIND_DN_TEMPLATE"):
            return _direct(config, server, username, password)
        return _search_then_bind(config, server, username, password)
    except LDAPException as err:
        raise Unavailable(f"{type(err).__name__}: {err}") from err
