"""Configuration: package defaults, then ``instance/config.py``, then ``EVALSYS_*`` variables.

The order matters: a deployment keeps its secrets in the instance folder or the
environment, never in the package, and the environment wins so that one image
can serve several sites.
"""

from __future__ import annotations

import json
import os
from typing import Any

#: The placeholder key. The app refuses to start with it unless debugging or testing.
DEFAULT_SECRET_KEY = "dev-insecure-change-me"


class Defaults:
    SECRET_KEY = DEFAULT_SECRET_KEY
    #: The language ("zh" or "en") for visitors whose browser states no preference, and
    #: for emails and reports to people who have not chosen one.
    DEFAULT_LOCALE = "zh"
    #: None means "SQLite file in the instance folder", resolved in create_app.
    DATABASE_URL: str | None = None
    #: Echo SQL to the log (debugging only).
    DATABASE_ECHO = False
    WTF_CSRF_ENABLED = True
    WTF_CSRF_TIME_LIMIT = None  # a supervisor may keep a form open for a whole class
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    #: A login session unused for this long ends (the user logs in again).
    SESSION_IDLE_MINUTES = 120
    #: ...and ends this long after the login, however busy.
    SESSION_ABSOLUTE_HOURS = 12
    MAX_CONTENT_LENGTH = 16 * 1024 * 1024
    #: Results computed from fewer records than this are marked insufficient.
    MIN_N = 3
    #: Term aggregation flags a sufficient mean (0-100) below this...
    FLAG_THRESHOLD = 70.0
    #: ...or below its kind's own threshold here. A tutor group's 1-5 agreement answers
    #: score "neutral" at 50 and "agree" at 75: their ordinary meeting is not a problem.
    FLAG_THRESHOLD_BY_KIND: dict[str, float] = {"tutor_group": 50.0}
    #: ...a fall of at least this many points since the previous term...
    FLAG_DROP = 10.0
    #: ...and a mean at least this many of the parent unit's standard deviations below it.
    FLAG_BELOW_PARENT_SD = 1.0
    #: Seconds the aggregation sleeps after each level inside its transaction (tests only).
    AGGREGATION_PAUSE_SECONDS = 0
    #: How long the author may edit or withdraw submitted feedback.
    FEEDBACK_EDIT_WINDOW_HOURS = 72
    #: Whether teachers see who observed their class (off: the observer stays anonymous to them).
    FEEDBACK_SHOW_OBSERVER_TO_TEACHER = False
    #: The site's zone (evalsys.clock): cron times ("02:00 nightly") are read in it,
    #: "today" is its date, and stored UTC times are shown in it.
    SCHEDULER_TIMEZONE = "Asia/Shanghai"
    #: When each class period (节次) starts and ends, site time: the calendar feed's visits
    #: get these times ("N=HH:MM-HH:MM", separated by ";"). A period missing here: the visit
    #: is a whole-day event naming its periods. A text that cannot be read stops the start.
    CLASS_PERIOD_TIMES = (
        "1=08:00-08:45; 2=08:55-09:40; 3=10:00-10:45; 4=10:55-11:40; 5=14:00-14:45;"
        " 6=14:55-15:40; 7=16:00-16:45; 8=16:55-17:40; 9=19:00-19:45; 10=19:55-20:40;"
        " 11=20:50-21:35; 12=21:45-22:30"
    )
    #: Minutes between looks for open terms whose feedback changed; each such term is
    #: aggregated again (the aggregate-fresh job). 0: only the nightly run.
    FRESH_FIGURES_MINUTES = 5
    #: A scheduler whose heartbeat is older than this is taken for dead.
    SCHEDULER_LEASE_SECONDS = 60
    #: A job's lock is taken for dead (its process killed) after this long.
    SCHEDULER_JOB_LOCK_SECONDS = 6 * 3600
    #: A job missed while the scheduler was down still runs (once) within this delay.
    SCHEDULER_MISFIRE_GRACE_SECONDS = 24 * 3600
    #: Where term reports are written (None: instance/reports), as TERM/UNITCODE.pdf.
    REPORT_DIR: str | None = None
    #: Worker processes that render reports (None: the CPU count, at most 4).
    REPORT_JOBS: int | None = None
    #: A report taking longer than this to render is abandoned with an error.
    REPORT_TIMEOUT_SECONDS = 300
    #: Charts are kept in INSTANCE/chart-cache by a hash of their inputs, so each is drawn
    #: once per site, not once per process (web workers, report workers, runs).
    CHART_CACHE = True
    #: A Redis URL (redis://host:6379/0): reports are rendered by `evalsys worker` processes,
    #: on any machine, from this queue (docs/reports.md). Empty: in local processes.
    REPORT_QUEUE_URL = ""
    #: The queue's name in that Redis (sites sharing one Redis each need their own).
    REPORT_QUEUE_NAME = "evalsys-reports"
    #: A queued report whose worker died mid-render (killed, its machine lost) is put back
    #: on the queue once this long has passed without its worker's heartbeat, and another
    #: worker renders it (at most twice; then it fails).
    REPORT_QUEUE_LOST_SECONDS = 60
    #: Whether reports name the observer beside a quoted comment (off: their role only).
    REPORT_SHOW_OBSERVER_NAMES = False
    #: Observers' comments printed per unit part of a report (lowest scores first).
    REPORT_COMMENTS_PER_PART = 20
    #: Outgoing mail for report delivery (no MAIL_SERVER: reports are not emailed).
    MAIL_SERVER: str | None = None
    MAIL_PORT = 25
    MAIL_USE_TLS = False
    MAIL_USE_SSL = False
    MAIL_USERNAME: str | None = None
    MAIL_PASSWORD: str | None = None
    MAIL_SENDER = "evalsys <evalsys@localhost>"
    MAIL_TIMEOUT_SECONDS = 30
    #: A delivery that failed this many times is given up (an admin may reset it).
    REPORT_DELIVERY_MAX_ATTEMPTS = 5
    #: Action owners get a reminder this many days before the due date (0: on the day).
    LOOP_REMINDER_DAYS_BEFORE = 1
    #: An owner's email that failed this many times is given up.
    LOOP_MAIL_MAX_ATTEMPTS = 5
    #: The address emails link to (e.g. https://evalsys.example.edu); empty: paths only.
    LOOP_BASE_URL = ""
    #: Failed logins for one username within the window before logins for it are refused (429).
    LOGIN_MAX_FAILURES_PER_USER = 5
    #: ...and from one client address (higher: a campus NAT puts many people behind one address).
    LOGIN_MAX_FAILURES_PER_ADDRESS = 20
    #: The sliding window over which failed logins are counted, in seconds.
    LOGIN_FAILURE_WINDOW_SECONDS = 15 * 60
    #: The site's address as its users reach it (https://evalsys.example.edu), for the links
    #: in account emails (invitations, password resets). Never taken from a request's Host
    #: header, which a client chooses. Empty: LOOP_BASE_URL; both empty: no such emails.
    BASE_URL = ""
    #: Days an invitation's set-password link works (until it is used, or a password set).
    INVITATION_MAX_AGE_DAYS = 14
    #: Minutes a password-reset link works (until it is used, or the password changed).
    PASSWORD_RESET_MAX_AGE_MINUTES = 60
    #: "Forgot password" requests within LOGIN_FAILURE_WINDOW_SECONDS for one email address
    #: (known or not) before more are refused (429)...
    PASSWORD_RESET_MAX_PER_EMAIL = 3
    #: ...and from one client address.
    PASSWORD_RESET_MAX_PER_ADDRESS = 20
    #: An invitation or reset email failing this many times is given up.
    ACCOUNT_MAIL_MAX_ATTEMPTS = 5
    #: Who may log in with an evalsys password (the login form, checked against the stored
    #: hash): "on" everyone, "admins" only holders of an admin role (a way in when single
    #: sign-on fails), "off" nobody. Directory (LDAP) and OpenID Connect logins are not
    #: affected. Invitations and reset emails are sent only where a password can be used.
    PASSWORD_LOGIN = "on"
    #: OpenID Connect single sign-on (docs/accounts.md). Empty issuer: no SSO button.
    #: The issuer's URL; its /.well-known/openid-configuration is read at login.
    OIDC_ISSUER = ""
    OIDC_CLIENT_ID = ""
    OIDC_CLIENT_SECRET = ""
    #: Scopes asked for; the claim below must be among what they release.
    OIDC_SCOPES = "openid profile email"
    #: The ID-token (or userinfo) claim that names the evalsys user...
    OIDC_USER_CLAIM = "preferred_username"
    #: ...matched against this field of an existing user: "username" or "email".
    OIDC_MATCH = "username"
    #: The login button's text by language; a language missing here gets the generic text.
    OIDC_LABEL: dict[str, str] = {}
    #: Seconds to wait for the provider (discovery, token, keys) before giving up.
    OIDC_TIMEOUT_SECONDS = 10
    #: LDAP directory login (docs/accounts.md): the login form's username and password are
    #: checked by a bind. Empty URL: no directory. ldap://host:389 or ldaps://host:636.
    LDAP_URL = ""
    #: Upgrade an ldap:// connection with StartTLS before sending a password.
    LDAP_START_TLS = False
    #: A CA certificate file to check the server's certificate against (None: the system's).
    LDAP_CA_FILE: str | None = None
    #: Direct bind: the user's DN from the typed username, e.g. "uid={username},ou=people,
    #: dc=example,dc=edu". Empty: search-then-bind with the settings below.
    LDAP_BIND_DN_TEMPLATE = ""
    #: Search-then-bind: the service account that searches (empty: anonymous search)...
    LDAP_SEARCH_BIND_DN = ""
    LDAP_SEARCH_BIND_PASSWORD = ""
    #: ...where, and with what filter ({username} is the typed name, escaped).
    LDAP_SEARCH_BASE = ""
    LDAP_SEARCH_FILTER = "(uid={username})"
    #: The directory attribute whose value names the evalsys user...
    LDAP_USER_ATTRIBUTE = "uid"
    #: ...matched against this field of an existing user: "username" or "email".
    LDAP_MATCH = "username"
    #: Seconds to wait for the directory before giving up.
    LDAP_TIMEOUT_SECONDS = 10
    #: Require a second factor (an authenticator app, TOTP) of school administrators at
    #: every login; they enrol at their next login. Anyone may enrol of their own accord.
    ADMIN_TOTP_REQUIRED = False
    #: Replace (a value) or drop (an empty value) response security headers, by header name.
    SECURITY_HEADERS: dict[str, str] = {}
    #: Audit events per page on /admin/audit.
    AUDIT_PER_PAGE = 50
    #: Behind a reverse proxy: how many proxies to trust for each X-Forwarded-* header
    #: (werkzeug ProxyFix). 0 ignores the header, so a client cannot forge its address or
    #: scheme when nothing in front sets them. Behind one nginx: 1 for FOR, PROTO and HOST.
    PROXY_FIX_X_FOR = 0
    PROXY_FIX_X_PROTO = 0
    PROXY_FIX_X_HOST = 0
    PROXY_FIX_X_PORT = 0
    PROXY_FIX_X_PREFIX = 0


#: Keys whose value is text even when it looks like a number (a numeric secret stays a string).
_ALWAYS_STRINGS = {
    "SECRET_KEY",
    "DATABASE_URL",
    "SERVER_NAME",
    "MAIL_PASSWORD",
    "OIDC_CLIENT_SECRET",
    "OIDC_CLIENT_ID",
    "LDAP_SEARCH_BIND_PASSWORD",
}


def env_overrides(environ: os._Environ[str] | dict[str, str] | None = None) -> dict[str, Any]:
    """Read ``EVALSYS_<NAME>`` variables into config keys.

    Values that parse as JSON (numbers, true/false, lists) are taken as such,
    so ``EVALSYS_MIN_N=5`` is an int and ``EVALSYS_SESSION_COOKIE_SECURE=true`` a bool.
    """
    environ = os.environ if environ is None else environ
    out: dict[str, Any] = {}
    for key, raw in environ.items():
        if not key.startswith("EVALSYS_") or key.startswith("EVALSYS_TEST_"):
            continue
        name = key.removeprefix("EVALSYS_")
        value: Any = raw
        if name not in _ALWAYS_STRINGS:
            try:
                value = json.loads(raw)
            except ValueError:
                value = raw
        out[name] = value
    return out


class InsecureSecretKey(SystemExit):
    """Raised when a production app would sign sessions with the public default key.

    A ``SystemExit`` so that ``flask run``, gunicorn and the CLI all stop with the
    one-line message instead of a traceback.
    """
