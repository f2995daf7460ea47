# evalsys site settings. `evalsys make-config` copies this below a random SECRET_KEY.
# Environment variables EVALSYS_<NAME> override anything set here.

# PostgreSQL instead of the embedded SQLite file in this folder:
# DATABASE_URL = "postgresql+psycopg://evalsys@127.0.0.1:5432/evalsys"

# Results computed from fewer records than this are marked insufficient.
# MIN_N = 3

# Behind HTTPS, send the session cookie only over it:
# SESSION_COOKIE_SECURE = True
