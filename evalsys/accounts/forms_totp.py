"""The second factor's forms (``accounts.views_totp``): a code, or a code or the password."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length, Optional

from evalsys.accounts.policy import MAX_LENGTH
from evalsys.validation import SafeForm


class CodeForm(SafeForm):
    """A code from the authenticator app (at login: or a recovery code)."""

    code = StringField(
        _l("Code"),
        validators=[DataRequired(message=_l("Enter the code.")), Length(max=40)],
    )


class DisableForm(SafeForm):
    """Switching the second factor off: a current code, or the password (one will do)."""

    code = StringField(_l("Code from your app"), validators=[Optional(), Length(max=40)])
    password = PasswordField(
        _l("Or your password"), validators=[Optional(), Length(max=MAX_LENGTH)]
    )

    def validate(self, extra_validators: object = None) -> bool:
        ok = super().validate(extra_validators)
        if ok and not (self.code.data or "").strip() and not self.password.data:
            self.code.errors = [_l("Enter a code from your app, or your password.")]
            return False
        return ok
