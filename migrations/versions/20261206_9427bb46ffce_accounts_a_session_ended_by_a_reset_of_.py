"""accounts: a session ended by a reset of the second factor

``user_session.end_reason`` gains ``second_factor``: when an administrator resets a user's
authenticator (a lost phone) their sessions end, and the login page says why, rather than
"your password or roles changed".

Revision ID: 9427bb46ffce
Revises: 84b291a47748
Create Date: 2026-12-06 17:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "9427bb46ffce"
down_revision: str | None = "84b291a47748"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD = "end_reason IN ('logout', 'password', 'deactivated', 'roles', 'expired')"
NEW = "end_reason IN ('logout', 'password', 'deactivated', 'roles', 'expired', 'second_factor')"


def upgrade() -> None:
    with op.batch_alter_table("user_session", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_user_session_end_reason"), type_="check")
        batch_op.create_check_constraint("end_reason", NEW)


def downgrade() -> None:
    # Sessions a reset ended read as ended by a password change, as they did before.
    op.execute("UPDATE user_session SET end_reason = 'password' WHERE end_reason = 'second_factor'")
    with op.batch_alter_table("user_session", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_user_session_end_reason"), type_="check")
        batch_op.create_check_constraint("end_reason", OLD)
