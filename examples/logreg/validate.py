"""The AME demo's validation task: exit 1 when the candidate's score is below 0.6.

modelgate passes the candidate in MODELGATE_MODEL_NAME / MODELGATE_MODEL_VERSION /
MODELGATE_RUN_ID and the registry in MLFLOW_TRACKING_URI; run by hand, it falls
back to the newest version of `logreg`, as the original script did.
"""

import os
import sys

import mlflow
from mlflow import MlflowClient

THRESHOLD = float(os.environ.get("SCORE_THRESHOLD", "0.6"))


def main() -> int:
    name = os.environ.get("MODELGATE_MODEL_NAME", "logreg")
    run_id = os.environ.get("MODELGATE_RUN_ID")
    if not run_id:
        client = MlflowClient()
        versions = client.search_model_versions(f"name='{name}'")
        if not versions:
            print(f"no versions of model {name}", file=sys.stderr)
            return 1
        run_id = max(versions, key=lambda v: int(v.version)).run_id
    run = mlflow.get_run(run_id)
    score = run.data.metrics.get("score")
    if score is None:
        print(f"run {run_id} has no `score` metric", file=sys.stderr)
        return 1
    print(f"{name}: score {score:.4f} (threshold {THRESHOLD})")
    return 0 if score >= THRESHOLD else 1


if __name__ == "__main__":
    sys.exit(main())
