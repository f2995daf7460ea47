"""Wiring of the web side: login, CSRF, deny-by-default, blueprints, error pages."""

from __future__ import annotations

from typing import Any

from flask import (
    Flask,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    render_template_string,
    request,
)
from flask import session as flask_session
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager, login_url
from flask_wtf import CSRFProtect
from flask_wtf.csrf import CSRFError

from evalsys import i18n, validation
from evalsys.accounts import sessions
from evalsys.accounts.access import enforce_declared_access
from evalsys.accounts.models import SessionEnd, User
from evalsys.accounts.views import ENDED_KEY, flash_session_end
from evalsys.db import get_session

csrf = CSRFProtect()
login_manager = LoginManager()
login_manager.login_view = "accounts.login"
login_manager.login_message = _l("Please log in to see this page.")
login_manager.login_message_category = "info"
# Flask-Login flashes the message through this: the lazy string becomes the reader's words.
login_manager.localize_callback = str
# A stolen remember cookie from another IP/agent logs nobody in.
login_manager.session_protection = "strong"


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    """The session's user while the account is active and the session record live.

    A remember-me cookie (never set: logins pass no ``remember``) carries no
    session id, so it loads nobody either.
    """
    try:
        uid = int(user_id)
    except ValueError:
        return None
    db = get_session()
    # Usually the first query of the request: then the check may commit its own writes.
    may_write = not db.in_transaction()
    user = db.get(User, uid)
    if user is None or not user.active:
        _forget(None)
        return None
    verdict = sessions.check(
        db,
        flask_session.get(sessions.SESSION_KEY),
        user_id=uid,
        lifetimes=sessions.Lifetimes.of(current_app.config),
        may_write=may_write,
    )
    if verdict.live:
        return user
    _forget(verdict.reason, locale=user.locale)
    return None


def _forget(reason: SessionEnd | None, locale: str | None = None) -> None:
    """Drop a dead session from the cookie, leaving why (and the user's language) for the
    login page. No gettext here: the locale selector would ask for the user being loaded."""
    for key in ("_user_id", "_fresh", "_id", sessions.SESSION_KEY):
        flask_session.pop(key, None)
    if reason is not None and reason is not SessionEnd.LOGOUT:
        flask_session[ENDED_KEY] = reason.value
        if locale and not flask_session.get(i18n.SESSION_KEY):
            flask_session[i18n.SESSION_KEY] = locale


@login_manager.unauthorized_handler
def _unauthorized() -> Any:
    """Flask-Login's own answer (flash, then the login page), saying why a session ended."""
    if not flash_session_end():
        flash(str(login_manager.login_message), login_manager.login_message_category)
    return redirect(login_url(login_manager.login_view, next_url=request.url))


def init_app(app: Flask) -> None:
    i18n.init_app(app)
    csrf.init_app(app)
    login_manager.init_app(app)
    # Before any route is added: ids in URLs are bounded like the columns they name.
    app.url_map.converters["int"] = validation.BoundedIntegerConverter
    app.before_request(enforce_declared_access)
    validation.init_app(app)
    from evalsys.security import bodies, headers

    headers.init_app(app)
    bodies.init_app(app)

    # The password, single sign-on and second-factor pages add their routes to the accounts
    # blueprint when imported.
    from evalsys.accounts import views_passwords, views_sso, views_totp  # noqa: F401
    from evalsys.accounts.views import bp as accounts_bp
    from evalsys.accounts.views_users import bp as users_bp
    from evalsys.api.views import bp as api_bp
    from evalsys.bulletins.views import bp as bulletins_bp

    # The feedback pages are three modules on one blueprint: importing them adds their routes.
    from evalsys.feedback import views, views_lists, views_record  # noqa: F401
    from evalsys.feedback.blueprint import bp as feedback_bp
    from evalsys.feedback.views_rubrics import bp as rubrics_bp
    from evalsys.home import bp as home_bp
    from evalsys.i18n.views import bp as i18n_bp
    from evalsys.importer.views import bp as imports_bp
    from evalsys.loop.views import bp as loop_bp
    from evalsys.ops.views import bp as ops_bp
    from evalsys.org.views import bp as org_bp
    from evalsys.planner import views_calendar  # noqa: F401  (its routes join planner_bp)
    from evalsys.planner.views import bp as planner_bp
    from evalsys.programmes.views import bp as programmes_bp
    from evalsys.reports.views import bp as reports_bp
    from evalsys.scheduler.views import bp as schedule_bp
    from evalsys.security.views import bp as audit_bp
    from evalsys.themes.views import bp as themes_bp

    app.register_blueprint(accounts_bp)
    app.register_blueprint(home_bp)
    app.register_blueprint(org_bp)
    app.register_blueprint(feedback_bp)
    app.register_blueprint(api_bp)
    csrf.exempt(api_bp)  # bearer tokens, no cookies: nothing for CSRF to protect
    app.register_blueprint(schedule_bp)
    app.register_blueprint(bulletins_bp)
    app.register_blueprint(reports_bp)
    app.register_blueprint(rubrics_bp)
    app.register_blueprint(imports_bp)
    app.register_blueprint(loop_bp)
    app.register_blueprint(planner_bp)
    app.register_blueprint(programmes_bp)
    app.register_blueprint(themes_bp)
    app.register_blueprint(audit_bp)
    app.register_blueprint(users_bp)
    app.register_blueprint(ops_bp)
    app.register_blueprint(i18n_bp)

    from evalsys import navigation

    navigation.init_app(app)  # the header's menu, by the user's roles

    @app.context_processor
    def _inject() -> dict:
        from evalsys.accounts.forms import LogoutForm
        from evalsys.i18n.views import language_form

        # formdata=None: the header's form never reads the request body, so an error page
        # for a body too large (413) renders instead of raising again (a 500).
        return {"logout_form": LogoutForm(formdata=None), "language_form": language_form()}

    for code, title, text in (
        (403, _l("Not allowed"), _l("Your roles do not give you access to this page.")),
        (404, _l("Not found"), _l("There is no such page. Check the address or go back home.")),
        (405, _l("Not allowed"), _l("This page does not accept that kind of request.")),
        (413, _l("Too large"), _l("What you sent is larger than the server accepts.")),
    ):
        app.register_error_handler(code, _error_page(code, title, text))

    from sqlalchemy.exc import OperationalError, ProgrammingError

    @app.errorhandler(OperationalError)
    @app.errorhandler(ProgrammingError)
    def _schema_behind(err: Exception):
        """A database left at an older schema: a page saying so (503), not a traceback.

        Any other database error is raised on (a 500, logged). The page is plain: the
        header's menu would query the same tables again.
        """
        from evalsys import migrate
        from evalsys.db import get_engine

        if (failed := g.get("db_session")) is not None:
            failed.rollback()  # its transaction may hold SQLite's write lock the check waits on
        problem = migrate.schema_problem(get_engine())
        if problem is None:
            raise err
        current_app.logger.error("%s", problem)
        if request.path.startswith("/api/"):  # the API's error shape, in English to programs
            with force_locale("en"):
                body = {"error": str(_l("Upgrade in progress")), "status": 503}
            return body, 503, {"Retry-After": "300"}
        # The reader's language without current_user: loading the user reads the database.
        lang = (
            i18n.normalise(flask_session.get(i18n.SESSION_KEY))
            or i18n.normalise(request.accept_languages.best_match([*i18n.LOCALES, "zh-CN"]))
            or i18n.default_locale()
        )
        with force_locale(lang):
            page = render_template_string(
                '<!doctype html><html lang="{{ lang }}"><meta charset="utf-8">'
                '<meta name="viewport" content="width=device-width, initial-scale=1">'
                "<title>{{ title }}</title><h1>{{ title }} (503)</h1><p>{{ text }}</p></html>",
                lang=lang,
                title=str(_l("Upgrade in progress")),
                text=str(_l("The site is being upgraded. Please try again in a few minutes.")),
            )
        return page, 503, {"Retry-After": "300"}

    @app.errorhandler(CSRFError)
    def _csrf_error(err: CSRFError):
        return (
            render_template(
                "error.html",
                code=400,
                title=_l("Form expired"),
                text=_l(
                    "The form's security token was missing or expired. "
                    "Go back, reload the page and submit again."
                ),
            ),
            400,
        )


def _error_page(code: int, title: Any, text: Any):
    def handler(err):
        # Keep what the original response says beyond its body (405's Allow header).
        headers = {}
        if hasattr(err, "get_response") and err.get_response().headers.get("Allow"):
            headers["Allow"] = err.get_response().headers["Allow"]
        if request.path.startswith("/api/"):
            with force_locale("en"):  # the API speaks English to programs
                return {"error": str(title), "status": code}, code, headers
        return render_template("error.html", code=code, title=title, text=text), code, headers

    return handler
