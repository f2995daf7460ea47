"""Pages of a list: the one rule for counting pages and keeping a page number in range.

Every paged list (feedback records, the audit log, the section search) counts its
rows, then fetches one page with LIMIT/OFFSET; a page number past the end shows the
last page rather than an empty one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


def page_count(total: int, per_page: int) -> int:
    """Pages needed for ``total`` rows; an empty list still has its one (empty) page."""
    return max(1, -(-total // per_page))


def clamp_page(page: int, total: int, per_page: int) -> int:
    """``page`` brought within 1..the last page (a URL may ask for any number)."""
    return min(max(1, page), page_count(total, per_page))


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list, numbered from 1."""

    items: list[T]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return page_count(self.total, self.per_page)

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages
