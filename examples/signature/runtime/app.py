"""*Servable by our fleet*: the candidate's `MLmodel` (read through
modelgate's artifact reads) says it was logged by an MLflow and a Python
the serving fleet runs.

    config:
      python: "3.11"          # the fleet's Python: MAJOR.MINOR the model's must match
      mlflow_major: 3         # the MLflow major version that must have logged it

It reads `MLmodel` with `read_model_file` (the model's LoggedModel in MLflow
3, a run's `PATH/` for a version registered from `runs:/RUN/PATH`) and
finds the keys it needs line by line: MLflow writes `MLmodel` with
`yaml.safe_dump`, one `key: value` per line.
"""

import json

import wit_world
from modelgate_plugin import Candidate, Err, Verdict, check, failed, read_model_file, verdict

KEYS = {"python", "mlflow_major"}


def settings(config: str):
    cfg = json.loads(config)
    unknown = set(cfg) - KEYS
    if unknown:
        raise Err(f"unknown config keys: {', '.join(sorted(unknown))} (valid: {', '.join(sorted(KEYS))})")
    python = cfg.get("python")
    major = cfg.get("mlflow_major", 3)
    if not isinstance(python, str) or python.count(".") != 1:
        raise Err("`python` must be MAJOR.MINOR, e.g. \"3.11\"")
    if not isinstance(major, int) or isinstance(major, bool) or major < 1:
        raise Err("`mlflow_major` must be a whole number >= 1")
    return python, major


def value(mlmodel: str, key: str):
    """The first `key: value` of the file (at any indentation), or None."""
    for line in mlmodel.splitlines():
        name, sep, rest = line.strip().partition(":")
        if sep and name == key:
            return rest.strip().strip("'\"")
    return None


class WitWorld(wit_world.WitWorld):
    def check_config(self, config: str) -> None:
        settings(config)

    def validate(self, candidate: Candidate, config: str) -> Verdict:
        python, major = settings(config)
        data = read_model_file(candidate.version, "MLmodel")
        if data is None:
            return Verdict(passed=False, summary="the candidate has no MLmodel", checks=[])
        mlmodel = data.decode("utf-8", errors="replace")
        logged_python = value(mlmodel, "python_version") or "unknown"
        logged_mlflow = value(mlmodel, "mlflow_version") or "unknown"
        checks = [
            check("python", ".".join(logged_python.split(".")[:2]) == python,
                  observed=logged_python, expected=f"{python}.x"),
            check("mlflow", logged_mlflow.split(".")[0] == str(major),
                  observed=logged_mlflow, expected=f"{major}.x"),
        ]
        names = failed(checks)
        summary = "servable by the fleet" if not names else f"not servable: {', '.join(names)}"
        return verdict(checks, summary)
