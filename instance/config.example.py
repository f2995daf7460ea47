# evalsys site settings. `evalsys make-config` copies this below a random SECRET_KEY.
# Environment variables EVALSYS_<NAME> override anything set here.

# PostgreSQL instead of the embedded SQLite file in this folder:
# DATABASE_URL = "postgresql+psycopg://evalsys@127.0.0.1:5432/evalsys"

# Results computed from fewer records than this are marked insufficient.
# MIN_N = 3

# Behind HTTPS, send the session cookie only over it:
# SESSION_COOKIE_SECURE = True

# The site's address as users reach it: the links in invitation and password-reset
# emails point here (never at whatever Host a request names). See docs/accounts.md.
# BASE_URL = "https://evalsys.university.edu"

# How long a set-password link works: an invitation's (days), a reset's (minutes).
# Each works once, and dies as soon as a password is set.
# INVITATION_MAX_AGE_DAYS = 14
# PASSWORD_RESET_MAX_AGE_MINUTES = 60

# Outgoing mail (reports, action owners, invitations, password resets):
# MAIL_SERVER = "smtp.university.edu"
# MAIL_PORT = 587
# MAIL_USE_TLS = True
# MAIL_USERNAME = "evalsys"
# MAIL_PASSWORD = "..."
# MAIL_SENDER = "evalsys <evalsys@university.edu>"
