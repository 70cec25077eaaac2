"""modelgate's helpers for validation gates written in Python.

A gate built with componentize-py imports them rather than carrying its own
copy::

    from modelgate_plugin import Candidate, Err, Verdict, at_least, log, metric, verdict

They wrap world ``modelgate:validator/validator@0.2.0``: the candidate, the
registry and the log are those of ``modelgate:validator@0.1.0`` (unchanged),
the checks and the verdict those of 0.2.0 (a check may pass with a warning).
Raising ``Err("message")`` from ``validate`` means "could not decide": a
failed gate. Values are shown as the Rust SDK shows them (``fmt``).

Put this file on componentize-py's path: ``-p DIR`` (modelgate's examples use
``plugins/python`` of the checkout); ``modelgate plugin new --lang python``
writes it beside ``app.py``.
"""

import math
from typing import Iterable, List, Optional

from componentize_py_types import Err
from wit_world.imports import log, registry
from wit_world.imports.modelgate_validator_types_0_1_0 import (
    Candidate,
    KeyValue,
    Metric,
    MetricPoint,
    ModelVersion,
    Run,
)
from wit_world.imports.modelgate_validator_types_0_2_0 import Check, Verdict

__all__ = [
    "Candidate", "Check", "Err", "KeyValue", "Metric", "MetricPoint", "ModelVersion", "Run",
    "Verdict", "at_least", "at_most", "check", "failed", "fmt", "log", "metric", "registry",
    "verdict", "within",
]


def fmt(value: float) -> str:
    """A value for the report: at most 6 decimals, no trailing zeros."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def metric(candidate: Candidate, key: str) -> Optional[float]:
    """The latest value of metric ``key`` in the candidate's run, or None."""
    if candidate.run is None:
        return None
    return next((m.value for m in candidate.run.metrics if m.key == key), None)


def check(name: str, passed: bool, *, observed: Optional[str] = None, expected: Optional[str] = None,
          detail: Optional[str] = None, warning: Optional[str] = None) -> Check:
    """A check for the report. ``warning`` marks a passed check that deserves
    attention (``modelgate validate --fail-on-warn`` fails the gate on it)."""
    return Check(name=name, passed=passed, warning=warning, observed=observed, expected=expected,
                 detail=detail)


def _compare(name: str, value: Optional[float], bound: float, tolerance: float,
             warn_within: Optional[float], greater: bool) -> Check:
    if not (math.isfinite(tolerance) and tolerance >= 0):
        raise Err(f"check `{name}`: the tolerance must be a number >= 0, got {tolerance}")
    op = ">=" if greater else "<="
    limit = bound - tolerance if greater else bound + tolerance
    expected = f"{op} {fmt(bound)}" if tolerance == 0 else \
        f"{op} {fmt(limit)} ({fmt(bound)} {'-' if greater else '+'} {fmt(tolerance)})"
    if value is None:
        return check(name, False, expected=expected, detail="metric not logged")
    if math.isnan(value):
        return check(name, False, observed="NaN", expected=expected, detail="metric is NaN")
    passed = value >= limit if greater else value <= limit
    warning = None
    if passed and warn_within is not None and abs(value - bound) <= warn_within:
        warning = f"within {fmt(warn_within)} of {fmt(bound)}"
    return check(name, passed, observed=fmt(value), expected=expected, warning=warning)


def at_least(name: str, value: Optional[float], minimum: float, *, tolerance: float = 0.0,
             warn_within: Optional[float] = None) -> Check:
    """``value >= minimum - tolerance``; a missing or NaN value fails. With
    ``warn_within``, a pass at most that far from ``minimum`` is a warning."""
    return _compare(name, value, minimum, tolerance, warn_within, True)


def at_most(name: str, value: Optional[float], maximum: float, *, tolerance: float = 0.0,
            warn_within: Optional[float] = None) -> Check:
    """``value <= maximum + tolerance``; a missing or NaN value fails. With
    ``warn_within``, a pass at most that far from ``maximum`` is a warning."""
    return _compare(name, value, maximum, tolerance, warn_within, False)


def within(name: str, value: Optional[float], target: float, tolerance: float) -> Check:
    """``|value - target| <= tolerance``; a missing or NaN value fails."""
    expected = f"{fmt(target)} ± {fmt(tolerance)}"
    if value is None or math.isnan(value):
        return check(name, False, expected=expected, detail="metric not logged" if value is None else "metric is NaN")
    return check(name, abs(value - target) <= tolerance, observed=fmt(value), expected=expected)


def failed(checks: Iterable[Check]) -> List[str]:
    """The names of the checks that failed."""
    return [c.name for c in checks if not c.passed]


def verdict(checks: List[Check], summary: Optional[str] = None) -> Verdict:
    """Passes when every check passes. The summary counts them unless
    ``summary`` is given (e.g. built from ``failed(checks)``)."""
    names = failed(checks)
    if summary is None:
        summary = f"{len(checks)} of {len(checks)} checks passed" if not names else \
            f"{len(names)} of {len(checks)} checks failed: {', '.join(names)}"
    return Verdict(passed=not names, summary=summary, checks=checks)
