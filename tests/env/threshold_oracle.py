"""MLflow's own verdict on metric thresholds, for cross-checking
`builtin:threshold`.

    python threshold_oracle.py < cases.json

Each case: {"id": ..., "thresholds": {metric: {threshold, min_absolute_change,
min_relative_change, greater_is_better}}, "candidate": {metric: value},
"baseline": {metric: value} or null}. Values may be "nan"/"inf"/"-inf".
Prints one line `MODELGATE_ORACLE [{"id", "passed", "error"}]`, where
`passed` is what `mlflow.validate_evaluation_results` decided and `error`
names any exception other than a validation failure (MLflow could not
decide; not a pass).
"""

import json
import sys

from mlflow.models import MetricThreshold
from mlflow.models.evaluation import EvaluationResult
from mlflow.models.evaluation.validation import (
    ModelValidationFailedException,
    validate_evaluation_results,
)


def num(v):
    return float(v) if isinstance(v, str) else v


def main() -> int:
    out = []
    for case in json.load(sys.stdin):
        thresholds = {}
        for metric, t in case["thresholds"].items():
            rel = t.get("min_relative_change")
            thresholds[metric] = MetricThreshold(
                threshold=t.get("threshold"),
                min_absolute_change=t.get("min_absolute_change"),
                min_relative_change=None if rel is None else float(rel),
                greater_is_better=t.get("greater_is_better", True),
            )
        cand = EvaluationResult({k: num(v) for k, v in case["candidate"].items()}, {})
        base = None
        if case.get("baseline") is not None:
            base = EvaluationResult({k: num(v) for k, v in case["baseline"].items()}, {})
        entry = {"id": case["id"]}
        try:
            validate_evaluation_results(thresholds, cand, base)
            entry["passed"] = True
        except ModelValidationFailedException:
            entry["passed"] = False
        except Exception as e:  # MLflow could not decide
            entry["passed"] = False
            entry["error"] = f"{type(e).__name__}: {e}"
        out.append(entry)
    print("MODELGATE_ORACLE " + json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
