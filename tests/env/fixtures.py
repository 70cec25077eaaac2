"""Registers model versions with chosen metrics through MLflow's own client,
for tests that need exact values (threshold tables, metric histories).

    MLFLOW_TRACKING_URI=... python fixtures.py < ops.json > result.json

`ops.json` is a list of operations, run in order:
  {"op": "version", "model": M, "metrics": {K: V}, "history": {K: [V, ...]},
   "params": {K: V}, "tags": {K: V}}          -> registers a new version of M
  {"op": "alias", "model": M, "alias": A, "version": N}
  {"op": "delete_alias", "model": M, "alias": A}
  {"op": "version_tag", "model": M, "version": N, "key": K, "value": V}
  {"op": "delete_version_tag", "model": M, "version": N, "key": K}
  {"op": "user", "username": U, "password": P}      -> MLflow's basic-auth app
  {"op": "grant", "username": U, "model": M, "permission": READ|EDIT|MANAGE|DENY}
The auth operations run as the user of MLFLOW_TRACKING_USERNAME/_PASSWORD
(the admin). Metric values may be the strings "nan", "inf", "-inf". The result is a list
with {"model", "version", "run_id"} for every "version" operation, printed
on one line after `MODELGATE_FIXTURES ` (MLflow prints its own lines too).
"""

import json
import os
import sys
import time

import requests

from mlflow import MlflowClient
from mlflow.entities import Metric


def value(v):
    return float(v) if isinstance(v, str) else v


def auth_op(op) -> None:
    """Users and per-model grants through the auth app's REST API."""
    base = os.environ["MLFLOW_TRACKING_URI"].rstrip("/")
    admin = (os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"])
    verify = os.environ.get("MLFLOW_TRACKING_SERVER_CERT_PATH") or True
    if op["op"] == "user":
        url = f"{base}/api/2.0/mlflow/users/create"
        body = {"username": op["username"], "password": op["password"]}
    else:
        url = f"{base}/api/3.0/mlflow/users/permissions/grant"
        body = {
            "username": op["username"],
            "resource_type": "registered_model",
            "resource_id": op["model"],
            "permission": op["permission"],
        }
    r = requests.post(url, json=body, auth=admin, verify=verify, timeout=30)
    if r.status_code != 200:
        raise SystemExit(f"{op['op']} failed: HTTP {r.status_code} {r.text[:300]}")


def main() -> int:
    ops = json.load(sys.stdin)
    client = MlflowClient()
    results = []
    known = set()
    for op in ops:
        kind = op["op"]
        if kind in ("user", "grant"):
            auth_op(op)
            continue
        model = op["model"]
        if kind == "version":
            run = client.create_run(experiment_id="0")
            run_id = run.info.run_id
            now = int(time.time() * 1000)
            metrics = [Metric(k, value(v), now, 0) for k, v in op.get("metrics", {}).items()]
            for k, series in op.get("history", {}).items():
                metrics += [Metric(k, value(v), now + i, i) for i, v in enumerate(series)]
            params = op.get("params", {})
            tags = op.get("tags", {})
            from mlflow.entities import Param, RunTag

            client.log_batch(
                run_id,
                metrics=metrics,
                params=[Param(k, str(v)) for k, v in params.items()],
                tags=[RunTag(k, str(v)) for k, v in tags.items()],
            )
            client.set_terminated(run_id)
            if model not in known:
                try:
                    client.create_registered_model(model)
                except Exception:
                    pass
                known.add(model)
            mv = client.create_model_version(model, f"runs:/{run_id}/model", run_id=run_id)
            results.append({"model": model, "version": int(mv.version), "run_id": run_id})
        elif kind == "alias":
            client.set_registered_model_alias(model, op["alias"], str(op["version"]))
        elif kind == "version_tag":
            client.set_model_version_tag(model, str(op["version"]), op["key"], op["value"])
        elif kind == "delete_version_tag":
            client.delete_model_version_tag(model, str(op["version"]), op["key"])
        elif kind == "delete_alias":
            client.delete_registered_model_alias(model, op["alias"])
        else:
            raise SystemExit(f"unknown op {kind}")
    print("MODELGATE_FIXTURES " + json.dumps(results), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
