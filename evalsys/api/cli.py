"""API token commands (filled by the API work)."""

from __future__ import annotations

import click


@click.group("token")
def token_cli() -> None:
    """Manage API tokens."""
