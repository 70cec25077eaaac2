"""Trains a classifier, evaluates it in a separate run, and registers it, the
way MLflow 3 teaches: the metrics live on the model version's LoggedModel,
each with the dataset it was computed on, not on the training run.

    MLFLOW_TRACKING_URI=sqlite:///mlflow.db python train_evaluate.py --C 0.01

1. A training run fits a logistic regression on scikit-learn's bundled
   breast-cancer data (no download) and logs it: `mlflow.sklearn.log_model`
   creates the LoggedModel (`m-…`).
2. An evaluation run scores it with `mlflow.models.evaluate` on two held-out
   datasets, `holdout` and `canary` (the canary is the harder slice: the
   patients with the largest tumours); MLflow attaches `accuracy_score`,
   `recall_score`, `log_loss`, `roc_auc`, ... to the LoggedModel, per dataset.
3. The LoggedModel is registered as the next version of `cancer`
   (`--model-name`).

The tracking URI comes from MLFLOW_TRACKING_URI, as in AME.
"""

import argparse
import warnings

import mlflow
import mlflow.sklearn
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

warnings.filterwarnings("ignore")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--C", type=float, default=1.0, help="inverse regularisation strength")
    parser.add_argument("--model-name", default="cancer", help="registered model name")
    args = parser.parse_args()

    data = load_breast_cancer(as_frame=True).frame
    train, rest = train_test_split(data, test_size=0.4, random_state=0, stratify=data["target"])
    # The canary: the largest tumours, where mistakes cost the most.
    canary = rest[rest["mean radius"] >= rest["mean radius"].quantile(0.5)]
    holdout = rest.drop(canary.index)
    features = [c for c in data.columns if c != "target"]

    mlflow.set_experiment("cancer")
    with mlflow.start_run(run_name="train"):
        model = make_pipeline(StandardScaler(), LogisticRegression(C=args.C, max_iter=1000))
        model.fit(train[features], train["target"])
        mlflow.log_param("C", args.C)
        info = mlflow.sklearn.log_model(model, name="model", input_example=train[features].head(2))

    with mlflow.start_run(run_name="evaluate"):
        for name, frame in (("holdout", holdout), ("canary", canary)):
            dataset = mlflow.data.from_pandas(frame, name=name, targets="target")
            result = mlflow.models.evaluate(info.model_uri, dataset, model_type="classifier",
                                            evaluators="default")
            print(f"{name}: accuracy_score={result.metrics['accuracy_score']:.4f} "
                  f"recall_score={result.metrics['recall_score']:.4f} "
                  f"log_loss={result.metrics['log_loss']:.4f}")

    version = mlflow.register_model(info.model_uri, args.model_name)
    print(f"Registered {info.model_uri} as version {version.version} of {args.model_name}")


if __name__ == "__main__":
    main()
