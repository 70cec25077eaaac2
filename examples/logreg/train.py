"""The AME demo's training code: a logistic regression on six points.

Logs the training `score` and registers the model as `logreg` (or
`--model-name`). `--negative-weight` weights class 0 in the loss; a heavy
weight (e.g. 10) makes the model predict 0 everywhere, a score of 0.5 that
the demo's gate rejects.

The tracking URI comes from MLFLOW_TRACKING_URI, as in AME.
"""

import argparse

import mlflow
import mlflow.sklearn
import numpy as np
from sklearn.linear_model import LogisticRegression


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--C", type=float, default=1.0, help="inverse regularisation strength")
    parser.add_argument("--negative-weight", type=float, default=1.0, help="weight of class 0")
    parser.add_argument("--model-name", default="logreg", help="registered model name")
    args = parser.parse_args()

    X = np.array([-2, -1, 0, 1, 2, 1]).reshape(-1, 1)
    y = np.array([0, 0, 1, 1, 1, 0])
    with mlflow.start_run():
        lr = LogisticRegression(C=args.C, class_weight={0: args.negative_weight, 1: 1.0})
        lr.fit(X, y)
        score = lr.score(X, y)
        mlflow.log_param("C", args.C)
        mlflow.log_param("negative_weight", args.negative_weight)
        mlflow.log_metric("score", score)
        mlflow.sklearn.log_model(
            lr, name="model", registered_model_name=args.model_name, input_example=X[:1]
        )
        print("Model saved in run %s with score %.4f" % (mlflow.active_run().info.run_id, score))


if __name__ == "__main__":
    main()
