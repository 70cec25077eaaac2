"""Trains a churn classifier on a pandas frame and logs it the way MLflow 3
teaches: `mlflow.sklearn.log_model` with `infer_signature` and an input
example, the holdout accuracy logged on the LoggedModel, the LoggedModel
registered as a version of `churn`.

    python train.py                      # tenure, monthly_charges, contract
    python train.py --drop contract      # the same model without `contract`
"""

import argparse

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import mlflow
from mlflow.models import infer_signature


def customers(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "tenure": rng.integers(0, 72, rows),
        "monthly_charges": rng.normal(65, 30, rows).round(2),
        "contract": rng.choice(["month-to-month", "one-year", "two-year"], rows),
    })
    risk = (df["contract"] == "month-to-month") * 1.5 - df["tenure"] / 24 + df["monthly_charges"] / 60
    df["churned"] = (risk + rng.normal(0, 0.5, rows) > 1).astype(int)
    return df


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--drop", action="append", default=[], help="a column to leave out")
    args = parser.parse_args()
    train, holdout = customers(800, 1), customers(200, 2)
    features = [c for c in ["tenure", "monthly_charges", "contract"] if c not in args.drop]
    categorical = [c for c in features if c == "contract"]
    numeric = [c for c in features if c not in categorical]
    model = make_pipeline(
        ColumnTransformer([("num", StandardScaler(), numeric),
                           ("cat", OneHotEncoder(handle_unknown="ignore"), categorical)]),
        LogisticRegression(max_iter=500),
    ).fit(train[features], train["churned"])

    mlflow.set_experiment("churn")
    with mlflow.start_run(run_name="train") as run:
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            signature=infer_signature(train[features], model.predict(train[features])),
            input_example=train[features].head(3),
            serialization_format="cloudpickle",
        )
        dataset = mlflow.data.from_pandas(holdout, name="holdout", targets="churned")
        accuracy = float((model.predict(holdout[features]) == holdout["churned"]).mean())
        mlflow.log_metric("accuracy", accuracy, model_id=info.model_id, dataset=dataset,
                          run_id=run.info.run_id)
    version = mlflow.register_model(f"models:/{info.model_id}", "churn")
    print(f"churn version {version.version}: {features}, accuracy {accuracy:.3f}")


if __name__ == "__main__":
    main()
