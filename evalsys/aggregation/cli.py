"""Aggregation commands (filled by the aggregation work)."""

from __future__ import annotations
