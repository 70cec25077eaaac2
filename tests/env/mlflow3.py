"""Model versions evaluated the way MLflow 3 teaches, for the end-to-end tests:
metrics on the version's LoggedModel, from evaluation runs, per dataset.

    MLFLOW_TRACKING_URI=... python mlflow3.py < ops.json

`ops.json` is a list of operations, run in order:
  {"op": "evaluated", "model": M, "train": {K: V}, "evals": [{"dataset": D, "metrics": {K: V}}, ...]}
      A training run fits a small scikit-learn model and logs it
      (`mlflow.sklearn.log_model(..., name="model")`) with the `train`
      metrics on the run; a separate evaluation run per entry of `evals`
      logs its metrics against the LoggedModel on dataset D
      (`mlflow.log_metric(k, v, model_id=..., dataset=...)`; D null: no
      dataset; a value [[STEP, V], ...] logs those points in order, a
      millisecond apart); the LoggedModel is registered as a new version of M.
  {"op": "models_evaluate", "model": M, "noise": F}
      Fits a classifier on labels of which a fraction F is flipped, logs it,
      then `mlflow.models.evaluate(model_uri, holdout, model_type="classifier")`
      in an evaluation run; registers the LoggedModel.
  {"op": "genai", "model": M, "answers": [A, ...]}
      An external LoggedModel (an agent), judged by `mlflow.genai.evaluate`
      with deterministic code-based scorers (`exact_match`, `is_short`) over
      fixed questions; `answers` are what the agent answers, in order, and
      decide its `exact_match/mean`. Registers the LoggedModel.
  {"op": "signed", "model": M, "columns": {NAME: DTYPE, ...}, "optional": [NAME, ...],
   "output": DTYPE, "tensor": [D, ...], "signature": true, "input_example": true,
   "metrics": {K: V}}
      Fits a model on a pandas frame of those columns (numpy/pandas dtypes:
      float64, float32, int64, int32, str, bool); a column in `optional` has
      a missing value, so `infer_signature` marks it optional. With
      `tensor` (a shape, -1 for any) the input is one numpy array of dtype
      `tensor_dtype` instead. Its predictions are of dtype `output`. Logged
      with `infer_signature(inputs, predictions)` unless `signature` is
      false, with an input example unless `input_example` is false; the run
      logs `notes/features.txt` (the column names); the `metrics` are logged
      on the LoggedModel; registered as a new version.
  {"op": "alias", "model": M, "alias": A, "version": N}
The result is a list with {"model", "version", "model_id", "run_id",
"eval_run_ids", "metrics"} for every registering operation (`metrics`: what
the evaluation computed), printed on one line after `MODELGATE_MLFLOW3 `.
Metric values may be the strings "nan", "inf", "-inf".
"""

import json
import os
import sys
import time
import warnings

import numpy as np
import pandas as pd

import mlflow
from mlflow import MlflowClient

warnings.filterwarnings("ignore")

QUESTIONS = [
    ("capital of France", "Paris"),
    ("two plus two", "4"),
    ("colour of the sky", "blue"),
    ("largest planet", "Jupiter"),
]


def value(v):
    return float(v) if isinstance(v, str) else v


def frame(seed: int, rows: int = 120, noise: float = 0.0) -> pd.DataFrame:
    """A reproducible two-feature classification set."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 2))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    flip = rng.random(rows) < noise
    y = np.where(flip, 1 - y, y)
    return pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "label": y})


def train(df: pd.DataFrame, metrics: dict):
    from sklearn.linear_model import LogisticRegression

    with mlflow.start_run(run_name="train") as run:
        model = LogisticRegression(max_iter=200).fit(df[["a", "b"]], df["label"])
        if metrics:
            mlflow.log_metrics({k: value(v) for k, v in metrics.items()})
        info = mlflow.sklearn.log_model(model, name="model", input_example=df[["a", "b"]].head(2))
    return run.info.run_id, info.model_id


def register(model: str, model_id: str) -> int:
    mv = mlflow.register_model(f"models:/{model_id}", model)
    return int(mv.version)


def evaluated(op) -> dict:
    df = frame(1)
    run_id, model_id = train(df, op.get("train", {}))
    eval_runs = []
    for e in op.get("evals", []):
        name = e.get("dataset")
        dataset = mlflow.data.from_pandas(frame(sum(map(ord, name))), name=name) if name else None
        with mlflow.start_run(run_name=f"evaluate-{name or 'none'}") as er:
            now = int(time.time() * 1000)
            for k, v in e["metrics"].items():
                points = v if isinstance(v, list) else [[0, v]]
                for i, (step, x) in enumerate(points):
                    mlflow.log_metric(k, value(x), step=step, timestamp=now + i,
                                      model_id=model_id, dataset=dataset)
        eval_runs.append(er.info.run_id)
    version = register(op["model"], model_id)
    return {"model": op["model"], "version": version, "model_id": model_id, "run_id": run_id,
            "eval_run_ids": eval_runs, "metrics": {}}


def models_evaluate(op) -> dict:
    df = frame(7, rows=200, noise=op.get("noise", 0.0))
    train_part, holdout = df.iloc[:120], df.iloc[120:]
    run_id, model_id = train(train_part, {})
    data = mlflow.data.from_pandas(holdout, name="holdout", targets="label")
    with mlflow.start_run(run_name="evaluate") as er:
        result = mlflow.models.evaluate(f"models:/{model_id}", data, model_type="classifier",
                                        evaluators="default")
    version = register(op["model"], model_id)
    return {"model": op["model"], "version": version, "model_id": model_id, "run_id": run_id,
            "eval_run_ids": [er.info.run_id],
            "metrics": {k: float(v) for k, v in result.metrics.items()}}


def genai(op) -> dict:
    from mlflow.genai.scorers import scorer

    answers = op["answers"]

    @scorer
    def exact_match(outputs, expectations) -> bool:
        return outputs == expectations["expected_response"]

    @scorer
    def is_short(outputs) -> bool:
        return len(outputs) <= 8

    def predict_fn(question: str) -> str:
        return answers[[q for q, _ in QUESTIONS].index(question)]

    data = [{"inputs": {"question": q}, "expectations": {"expected_response": a}}
            for q, a in QUESTIONS]
    agent = mlflow.create_external_model(name=f"{op['model']}-agent")
    result = mlflow.genai.evaluate(data=data, predict_fn=predict_fn,
                                   scorers=[exact_match, is_short], model_id=agent.model_id)
    version = register(op["model"], agent.model_id)
    return {"model": op["model"], "version": version, "model_id": agent.model_id, "run_id": None,
            "eval_run_ids": [result.run_id],
            "metrics": {k: float(v) for k, v in result.metrics.items()}}


def signed(op) -> dict:
    from mlflow.models import infer_signature

    rows = 20
    rng = np.random.default_rng(3)
    if "tensor" in op:
        shape = [rows if d == -1 else d for d in op["tensor"]]
        inputs = rng.normal(size=shape).astype(op.get("tensor_dtype", "float32"))
    else:
        columns = {}
        for name, dtype in op["columns"].items():
            if dtype == "str":
                col = pd.Series([f"v{i}" for i in range(rows)], dtype=object)
            elif dtype == "bool":
                col = pd.Series([i % 2 == 0 for i in range(rows)])
            else:
                col = pd.Series(rng.normal(size=rows) * 10).astype(dtype)
            if name in op.get("optional", []):
                col = col.astype(object) if dtype in ("str", "bool") else col.astype("float64")
                col.iloc[0] = None
            columns[name] = col
        inputs = pd.DataFrame(columns)
    from sklearn.dummy import DummyClassifier, DummyRegressor

    # A scikit-learn model whatever the columns: a classifier predicts
    # int64 labels, a regressor float64 values.
    if op.get("output", "int64") == "float64":
        model = DummyRegressor().fit(inputs, np.arange(rows, dtype="float64"))
    else:
        model = DummyClassifier().fit(inputs, np.arange(rows) % 2)
    predictions = model.predict(inputs)
    signature = infer_signature(inputs, predictions) if op.get("signature", True) else None
    example = inputs[:2] if op.get("input_example", True) else None
    with mlflow.start_run(run_name="train") as run:
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=signature if signature is not None else False,
            input_example=example,
            serialization_format="cloudpickle",
        )
        # A file of the run's own, beside the model (which MLflow 3 keeps
        # under the LoggedModel, not the run).
        mlflow.log_text(" ".join(map(str, getattr(inputs, "columns", []))) or "tensor",
                        "notes/features.txt")
    for k, v in op.get("metrics", {}).items():
        mlflow.log_metric(k, value(v), model_id=info.model_id, run_id=run.info.run_id)
    version = register(op["model"], info.model_id)
    return {"model": op["model"], "version": version, "model_id": info.model_id,
            "run_id": run.info.run_id, "eval_run_ids": [], "metrics": {}}


def main() -> int:
    ops = json.load(sys.stdin)
    mlflow.set_experiment(os.environ.get("MODELGATE_EXPERIMENT", "modelgate-mlflow3"))
    client = MlflowClient()
    results = []
    for op in ops:
        kind = op["op"]
        if kind == "evaluated":
            results.append(evaluated(op))
        elif kind == "models_evaluate":
            results.append(models_evaluate(op))
        elif kind == "genai":
            results.append(genai(op))
        elif kind == "signed":
            results.append(signed(op))
        elif kind == "alias":
            client.set_registered_model_alias(op["model"], op["alias"], str(op["version"]))
        else:
            raise SystemExit(f"unknown op {kind}")
    print("MODELGATE_MLFLOW3 " + json.dumps(results), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
