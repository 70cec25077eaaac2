"""modelgate's helpers for validation gates written in Python.

A gate built with componentize-py imports them rather than carrying its own
copy::

    from modelgate_plugin import Candidate, Err, Verdict, at_least, log, metric, verdict

They wrap world ``modelgate:validator/validator@0.4.0``: the candidate, its
model version and the registry are 0.3.0's (MLflow 3's LoggedModel: the
candidate carries it, ``registry.get_logged_model(id)`` reads any other),
the log, run and key-value ``modelgate:validator@0.1.0``'s, the checks and
the verdict 0.2.0's (a check may pass with a warning), all unchanged; 0.4.0
adds ``artifacts``, bounded reads of a model's own files
(``read_model_file(version, "MLmodel")``).
``metric`` reads a metric where MLflow 3 shows it for a version: its
LoggedModel (optionally on one ``dataset``), then its run; ``lookup_metric``
also says where it came from.
Raising ``Err("message")`` from ``validate`` means "could not decide": a
failed gate. Values are shown as the Rust SDK shows them (``fmt``).

Put this file on componentize-py's path: ``-p DIR`` (modelgate's examples use
``plugins/python`` of the checkout); ``modelgate plugin new --lang python``
writes it beside ``app.py``.
"""

import math
from typing import Iterable, List, NamedTuple, Optional

from componentize_py_types import Err
from wit_world.imports import artifacts, log, registry
from wit_world.imports.modelgate_validator_types_0_1_0 import (
    KeyValue,
    Metric,
    MetricPoint,
    Run,
)
from wit_world.imports.modelgate_validator_types_0_2_0 import Check, Verdict
from wit_world.imports.modelgate_validator_types_0_3_0 import (
    Candidate,
    LoggedModel,
    ModelMetric,
    ModelVersion,
)
from wit_world.imports.modelgate_validator_types_0_4_0 import (
    ArtifactOwner_LoggedModel,
    ArtifactOwner_Run,
)

__all__ = [
    "Candidate", "Check", "Err", "KeyValue", "LoggedModel", "Lookup", "Metric", "MetricPoint",
    "ModelMetric", "ModelVersion", "Run", "Verdict", "artifacts", "at_least", "at_most", "check",
    "failed", "fmt", "log", "lookup_metric", "metric", "model_files", "read_model_file",
    "registry", "verdict", "within",
]


def fmt(value: float) -> str:
    """A value for the report: at most 6 decimals, no trailing zeros."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


class Lookup(NamedTuple):
    """What ``lookup_metric`` found: the ``value`` (None when not found),
    where it came from (``source``: ``LoggedModel m-… on dataset holdout
    (run …)`` or ``run …``), and the ``datasets`` it is on when it is on
    several and none was asked for (then ``value`` is None)."""
    value: Optional[float]
    source: Optional[str]
    datasets: List[str]


def _label(name: Optional[str], digest: Optional[str]) -> str:
    if name is None:
        return "(no dataset)"
    return name if digest is None else f"{name}@{digest}"


# "Not given": look in the candidate's own LoggedModel and run.
_CANDIDATE = object()


def lookup_metric(candidate: Candidate, key: str, dataset: Optional[str] = None,
                  *, model=_CANDIDATE, run=_CANDIDATE) -> Lookup:
    """Metric ``key`` where MLflow 3 shows it for a version (the Rust SDK's
    ``MetricLookup``): the version's LoggedModel first — on ``dataset``
    (``NAME`` or ``NAME@DIGEST``) when given, else on its one dataset
    (several are ambiguous: ``datasets`` names them) — MLflow's latest value
    there (newest timestamp, then greatest step, then smallest run id);
    then the version's run, only when no dataset
    is asked for. ``model``/``run`` look in another version's (a
    baseline's: pass both, None for what it lacks) instead of the
    candidate's."""
    if model is _CANDIDATE:
        model = candidate.logged_model
    if run is _CANDIDATE:
        run = candidate.run
    wanted = None
    if dataset is not None:
        name, _, digest = dataset.partition("@")
        wanted = (name, digest or None)
    if model is not None:
        values = [m for m in model.metrics if m.key == key]
        on = [m for m in values if wanted is None or (
            m.dataset_name == wanted[0] and (wanted[1] is None or m.dataset_digest == wanted[1]))]
        if on:
            found = {(m.dataset_name, m.dataset_digest) for m in values}
            if wanted is None and len(found) > 1:
                names = [n for n, _ in found]
                labels = sorted(_label(n, d if names.count(n) > 1 else None) for n, d in found)
                return Lookup(None, None, labels)
            newest = max((m.timestamp, m.step) for m in on)
            m = min((m for m in on if (m.timestamp, m.step) == newest), key=lambda m: m.run_id or "")
            source = f"LoggedModel {model.model_id}"
            if m.dataset_name is not None:
                source += f" on dataset {_label(m.dataset_name, m.dataset_digest)}"
            if m.run_id is not None:
                source += f" (run {m.run_id})"
            return Lookup(m.value, source, [])
    if wanted is None and run is not None:
        for m in run.metrics:
            if m.key == key:
                return Lookup(m.value, f"run {run.run_id}", [])
    return Lookup(None, None, [])


def metric(candidate: Candidate, key: str, dataset: Optional[str] = None) -> Optional[float]:
    """Metric ``key`` of the candidate where MLflow 3 shows it (see
    ``lookup_metric``), or None: not logged, or on several datasets and
    ``dataset`` does not say which."""
    return lookup_metric(candidate, key, dataset).value


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


def model_files(version: ModelVersion):
    """Where the files of ``version``'s model are, as its ``source`` says
    (what MLflow serves the version from): ``(owner, prefix)`` for
    ``artifacts.read_artifact(owner, prefix + name, max_bytes)`` — its
    LoggedModel's root for ``models:/m-…`` (MLflow 3), a run's ``PATH/``
    for ``runs:/RUN/PATH`` or a source in the version's run's artifact root
    (``…/RUN/artifacts/PATH``, MLflow 2) — or None when it says none of
    these or names another LoggedModel than the version's ``model_id``
    (the Rust SDK's ``artifacts::model_files``)."""
    source = version.source or ""
    if source.startswith("models:/"):
        model = source[len("models:/"):].rstrip("/")
        if not model.startswith("m-") or (version.model_id and version.model_id != model):
            return None
        return ArtifactOwner_LoggedModel(model), ""
    if not source:
        return (ArtifactOwner_LoggedModel(version.model_id), "") if version.model_id else None
    if source.startswith("runs:/"):
        run, _, path = source[len("runs:/"):].partition("/")
    else:
        run = version.run_id
        marker = f"/{run}/artifacts" if run else None
        at = source.find(marker) if marker else -1
        if at < 0:
            return None
        path = source[at + len(marker):]
        if path and not path.startswith("/"):
            return None
    path = path.strip("/")
    if not run:
        return None
    return ArtifactOwner_Run(run), (path + "/" if path else "")


def read_model_file(version: ModelVersion, name: str, max_bytes: int = 1 << 20) -> Optional[bytes]:
    """File ``name`` (e.g. ``MLmodel``) of ``version``'s model, whole, or
    None when it has no such file (or its files cannot be located). A file
    larger than ``max_bytes`` and other registry errors are raised as
    ``Err``: a gate never judges the beginning of a file as the file."""
    where = model_files(version)
    if where is None:
        return None
    owner, prefix = where
    try:
        got = artifacts.read_artifact(owner, prefix + name, max_bytes)
    except Err as e:
        if type(e.value).__name__ == "RegistryError_NotFound":
            return None
        raise
    if got.truncated:
        raise Err(f"{name} of the model is larger than {max_bytes} bytes")
    return bytes(got.data)
