from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Regexp

from evalsys.accounts.policy import MAX_LENGTH
from evalsys.validation import SafeForm


class LoginForm(SafeForm):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=80)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])


class LogoutForm(SafeForm):
    """Empty: logging out is a POST with a CSRF token, so no link can log a user out."""


class NewPasswordForm(SafeForm):
    """A new password, typed twice. The policy (``accounts.policy``) is the service's: its
    refusal is shown beside ``password``."""

    password = PasswordField(
        _l("New password"), validators=[DataRequired(), Length(max=MAX_LENGTH)]
    )
    confirm = PasswordField(
        _l("New password, again"),
        validators=[
            DataRequired(),
            EqualTo("password", message=_l("The two passwords are not the same.")),
        ],
    )


class ChangePasswordForm(NewPasswordForm):
    current = PasswordField(
        _l("Current password"), validators=[DataRequired(), Length(max=MAX_LENGTH)]
    )


class ForgotPasswordForm(SafeForm):
    email = StringField(
        _l("Email address"),
        validators=[
            DataRequired(),
            Length(max=254),
            Regexp(
                r"^[^@\s]+@[^@\s]+$",
                message=_l("Enter an email address like name@example.edu."),
            ),
        ],
    )


class RoleSpecForm(SafeForm):
    """One grant, ``ROLE@UNITCODE``, read by the service as ``people.csv`` is."""

    spec = StringField(
        _l("Role"),
        validators=[DataRequired(message=_l("Enter a role as ROLE@UNITCODE.")), Length(max=120)],
    )


class ConfirmForm(SafeForm):
    """Empty: a change made by pressing a button is a POST with a CSRF token."""
