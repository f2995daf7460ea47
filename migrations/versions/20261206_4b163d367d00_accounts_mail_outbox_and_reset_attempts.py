"""accounts: account_mail (invitation and reset emails, sent and retried); login_attempt.kind

``account_mail`` is the queue of emails carrying a set-password link (the link itself is
signed when the email is sent, never stored). ``login_attempt.kind`` tells "forgot
password" requests (``reset``) from logins, so each is rate-limited on its own; the rows
already there are logins.

Revision ID: 4b163d367d00
Revises: 8937899a3414
Create Date: 2026-12-06 12:54:20.616964
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op


revision: str = "4b163d367d00"
down_revision: str | None = "8937899a3414"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "account_mail",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("claimed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("sent_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.CheckConstraint("kind IN ('invite', 'reset')", name=op.f("ck_account_mail_kind")),
        sa.CheckConstraint(
            "status IN ('pending', 'sending', 'sent', 'failed', 'gave_up', 'dropped')",
            name=op.f("ck_account_mail_status"),
        ),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_account_mail_attempts_nonneg")),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_account_mail_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_mail")),
    )
    with op.batch_alter_table("account_mail", schema=None) as batch_op:
        batch_op.create_index("ix_account_mail_status", ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_account_mail_user_id"), ["user_id"], unique=False)

    with op.batch_alter_table("login_attempt", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "kind",
                sqlmodel.sql.sqltypes.AutoString(length=10),
                nullable=False,
                server_default="login",
            )
        )
        batch_op.create_check_constraint(
            op.f("ck_login_attempt_kind"), "kind IN ('login', 'reset')"
        )


def downgrade() -> None:
    with op.batch_alter_table("login_attempt", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_login_attempt_kind"), type_="check")
        batch_op.drop_column("kind")

    with op.batch_alter_table("account_mail", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_account_mail_user_id"))
        batch_op.drop_index("ix_account_mail_status")

    op.drop_table("account_mail")
