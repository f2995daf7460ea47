from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from evalsys.validation import SafeForm


class LoginForm(SafeForm):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=80)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])


class LogoutForm(SafeForm):
    """Empty: logging out is a POST with a CSRF token, so no link can log a user out."""
