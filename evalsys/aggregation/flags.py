"""The settings of a run, and the flags: what needs attention, said in words a dean reads.

A flag is stored with its code, the figure that raised it, the limit it crossed and an
English ``reason`` (what the CSV/xlsx/JSON exports and the logs carry). People read
:func:`flag_text` instead: the same sentence in their own language, composed at display
time from the code, the figures and the result's stored comparisons, so a stored flag
needs no migration when the wording or the reader's language changes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from evalsys.aggregation.models import ALL_KINDS, OVERALL, FlagCode
from evalsys.feedback.vocab import DIMENSION_NAMES, DIMENSIONS, KIND_LABELS, KIND_NAMES, name_of
from evalsys.i18n import fmt_num

if TYPE_CHECKING:
    from sqlalchemy.engine import RowMapping

#: The flags' names on badges.
#: StrEnum keys: looked up by the plain flag string stored in the table.
FLAG_NAMES: dict[str, Any] = {
    FlagCode.BELOW_THRESHOLD: _l("below threshold"),
    FlagCode.DROP: _l("drop"),
    FlagCode.BELOW_PARENT: _l("below parent"),
}


class SettingsError(ValueError):
    """A configured limit that makes no sense; the message names the key."""


#: ``FLAG_THRESHOLD_BY_KIND``'s default: a tutor group's 1-5 agreement answers put "agree"
#: at 75 and "neutral" at 50, so an ordinary meeting (mostly 4s and 3s) scores about 62.5;
#: the spot-check threshold would flag nearly every group. Below 50 is worse than neutral.
DEFAULT_THRESHOLD_BY_KIND: dict[str, float] = {"tutor_group": 50.0}


@dataclass(frozen=True)
class Settings:
    #: Results from fewer records are insufficient: no comparisons, no flags.
    min_n: int = 3
    #: A mean below this (0-100) is flagged...
    threshold: float = 70.0
    #: ...unless its kind has a threshold of its own (kind code to 0-100; the results of all
    #: kinds together use ``threshold``).
    threshold_by_kind: tuple[tuple[str, float], ...] = tuple(DEFAULT_THRESHOLD_BY_KIND.items())
    #: A fall of at least this many points since the previous term is flagged.
    drop: float = 10.0
    #: A mean at least this many of the parent's standard deviations below it is flagged.
    parent_sd: float = 1.0
    #: Seconds to sleep after each level, inside the transaction (tests only).
    pause: float = 0.0

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Settings:
        raw = {
            "min_n": ("MIN_N", config.get("MIN_N", cls.min_n)),
            "threshold": ("FLAG_THRESHOLD", config.get("FLAG_THRESHOLD", cls.threshold)),
            "drop": ("FLAG_DROP", config.get("FLAG_DROP", cls.drop)),
            "parent_sd": (
                "FLAG_BELOW_PARENT_SD",
                config.get("FLAG_BELOW_PARENT_SD", cls.parent_sd),
            ),
            "pause": ("AGGREGATION_PAUSE_SECONDS", config.get("AGGREGATION_PAUSE_SECONDS", 0)),
        }
        values: dict[str, Any] = {}
        for name, (key, value) in raw.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise SettingsError(f"{key} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise SettingsError(f"{key} must be a finite number, got {value!r}")
            values[name] = value
        if int(values["min_n"]) != values["min_n"] or values["min_n"] < 1:
            raise SettingsError(
                f"MIN_N must be a whole number of at least 1, got {values['min_n']}"
            )
        if not 0 <= values["threshold"] <= 100:
            raise SettingsError(f"FLAG_THRESHOLD must be within 0-100, got {values['threshold']}")
        if values["drop"] <= 0:
            raise SettingsError(f"FLAG_DROP must be greater than 0, got {values['drop']}")
        if values["parent_sd"] <= 0:
            raise SettingsError(
                f"FLAG_BELOW_PARENT_SD must be greater than 0, got {values['parent_sd']}"
            )
        if values["pause"] < 0:
            raise SettingsError(f"AGGREGATION_PAUSE_SECONDS must be >= 0, got {values['pause']}")
        by_kind = _thresholds_by_kind(
            config.get("FLAG_THRESHOLD_BY_KIND", DEFAULT_THRESHOLD_BY_KIND)
        )
        return cls(
            min_n=int(values["min_n"]),
            threshold=float(values["threshold"]),
            threshold_by_kind=by_kind,
            drop=float(values["drop"]),
            parent_sd=float(values["parent_sd"]),
            pause=float(values["pause"]),
        )

    def threshold_for(self, kind: str) -> float:
        """The mean below which a result of ``kind`` is flagged."""
        return dict(self.threshold_by_kind).get(kind, self.threshold)

    @property
    def highest_threshold(self) -> float:
        """The highest of the thresholds: the SQL prefilter of flag candidates."""
        return max([self.threshold, *(t for _, t in self.threshold_by_kind)])

    def recorded(self) -> dict[str, Any]:
        """What a run stores about how it was computed (the pause is no part of it)."""
        out = asdict(self)
        out.pop("pause")
        out["threshold_by_kind"] = dict(self.threshold_by_kind)
        return out


def _thresholds_by_kind(raw: Any) -> tuple[tuple[str, float], ...]:
    """``FLAG_THRESHOLD_BY_KIND`` checked: known kinds, numbers within 0-100."""
    if not isinstance(raw, Mapping):
        raise SettingsError(
            f"FLAG_THRESHOLD_BY_KIND must be a mapping of kind to threshold, got {raw!r}"
        )
    out = []
    for kind, value in sorted(raw.items()):
        if kind not in KIND_LABELS:
            known = ", ".join(str(k) for k in KIND_LABELS)
            raise SettingsError(f"FLAG_THRESHOLD_BY_KIND: unknown kind {kind!r}; kinds are {known}")
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
            raise SettingsError(
                f"FLAG_THRESHOLD_BY_KIND[{kind!r}] must be a number within 0-100, got {value!r}"
            )
        out.append((str(kind), float(value)))
    return tuple(out)


def kind_label(kind: str) -> str:
    return "All kinds" if kind == ALL_KINDS else KIND_LABELS.get(kind, (kind, kind))[1]


def dimension_label(dimension: str) -> str:
    if dimension == OVERALL:
        return "Overall"
    for dims in DIMENSIONS.values():
        if dimension in dims:
            return dims[dimension][1]
    return dimension


def kind_name(kind: str) -> str:
    """A kind of result in the reader's language ("All kinds" for the kinds together)."""
    return _("All kinds") if kind == ALL_KINDS else name_of(KIND_NAMES, kind)


def dimension_name(dimension: str) -> str:
    """A dimension in the reader's language ("Overall" for the overall score)."""
    if dimension == OVERALL:
        return _("Overall")
    if dimension in DIMENSION_NAMES:
        return name_of(DIMENSION_NAMES, dimension)
    return dimension


def flag_name(flag: str) -> str:
    return str(FLAG_NAMES[flag]) if flag in FLAG_NAMES else flag.replace("_", " ")


def _limit(value: float) -> str:
    """A configured limit as the reader writes numbers, without a needless ".0"."""
    value = float(value)
    return fmt_num(value, 0 if value.is_integer() else 1)


def flag_text(f: Mapping[str, Any]) -> str:
    """A flag's reason in the reader's language, from the flag and its result's figures.

    ``f`` holds the flag's ``flag``, ``kind``, ``dimension``, ``value`` and ``threshold``,
    and the result's ``n``, ``mean``, ``prev_term``, ``prev_mean``, ``parent_code``,
    ``parent_mean`` and ``parent_diff`` (as stored). Without the figures it needs, the
    stored English ``reason`` is shown as it is.
    """
    try:
        what = _(
            "%(kind)s · %(dimension)s",
            kind=kind_name(f["kind"]),
            dimension=dimension_name(f["dimension"]),
        )
        common = {"what": what, "mean": fmt_num(f["mean"]), "n": f["n"]}
        if f["flag"] == FlagCode.BELOW_THRESHOLD:
            return _(
                "%(what)s: mean %(mean)s is below the threshold %(limit)s (n=%(n)s)",
                limit=_limit(f["threshold"]),
                **common,
            )
        if f["flag"] == FlagCode.DROP and f.get("prev_mean") is not None:
            return _(
                "%(what)s: mean %(mean)s is %(change)s points below the previous term "
                "(%(term)s: %(previous)s); flagged from a drop of %(limit)s (n=%(n)s)",
                change=fmt_num(-f["value"]),
                term=f.get("prev_term") or "—",
                previous=fmt_num(f["prev_mean"]),
                limit=_limit(f["threshold"]),
                **common,
            )
        if f["flag"] == FlagCode.BELOW_PARENT and f.get("parent_mean") is not None:
            return _(
                "%(what)s: mean %(mean)s is %(z)s standard deviations below %(parent)s "
                "(mean %(parent_mean)s); flagged from %(limit)s (n=%(n)s)",
                z=fmt_num(-f["value"]),
                parent=f.get("parent_code") or "—",
                parent_mean=fmt_num(f["parent_mean"]),
                limit=_limit(f["threshold"]),
                **common,
            )
    except (KeyError, TypeError, ValueError):
        pass
    return str(f.get("reason") or "")


def _label(kind: str, dimension: str) -> str:
    return f"{kind_label(kind)} · {dimension_label(dimension)}"


def flags_for(
    row: Mapping[str, Any] | RowMapping, settings: Settings, prev_term_code: str | None
) -> list[dict[str, Any]]:
    """The flags one sufficient result raises, each with the figure, the limit and the reason.

    ``row`` holds the result's figures and its parent's code, sd and n (see
    ``figures.flag_candidates``). Insufficient results never get here: their
    comparisons are empty, and the query asks for n >= MIN_N.
    """
    if row["n"] < settings.min_n or row["mean"] is None:
        return []
    label = _label(row["kind"], row["dimension"])
    n = row["n"]
    mean = row["mean"]
    found: list[dict[str, Any]] = []
    threshold = settings.threshold_for(row["kind"])
    if row["kind"] == ALL_KINDS and row.get("threshold_sum") is not None:
        # All kinds together: the average of the values' own thresholds (see sql).
        threshold = float(row["threshold_sum"]) / n
    if mean < threshold:
        found.append(
            {
                "flag": FlagCode.BELOW_THRESHOLD.value,
                "value": mean,
                "threshold": threshold,
                "reason": (
                    f"{label}: mean {mean:.1f} is below the threshold {threshold:g} (n={n})"
                ),
            }
        )
    change = row["prev_change"]
    if change is not None and change <= -settings.drop:
        found.append(
            {
                "flag": FlagCode.DROP.value,
                "value": change,
                "threshold": settings.drop,
                "reason": (
                    f"{label}: mean {mean:.1f} is {-change:.1f} points below the previous "
                    f"term ({prev_term_code}: {row['prev_mean']:.1f}); flagged from a drop of "
                    f"{settings.drop:g} (n={n})"
                ),
            }
        )
    z = row["parent_z"]
    if z is not None and z <= -settings.parent_sd:
        found.append(
            {
                "flag": FlagCode.BELOW_PARENT.value,
                "value": z,
                "threshold": settings.parent_sd,
                "reason": (
                    f"{label}: mean {mean:.1f} is {-z:.1f} standard deviations below "
                    f"{row['parent_code']} (mean {row['parent_mean']:.1f}, sd "
                    f"{row['parent_sd']:.1f}, n={row['parent_n']}); flagged from "
                    f"{settings.parent_sd:g} (n={n})"
                ),
            }
        )
    return found
