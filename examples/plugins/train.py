"""Trains the credit-approval example model and registers it in MLflow.

A logistic regression fitted by SGD on a fixed synthetic data set with a
protected `group` attribute. Every epoch logs `train_loss` (step = epoch);
the end of the run logs `accuracy`, `f1`, `log_loss`, and `recall`/`precision`
for each group (`recall_group_a`, `recall_group_b`, ...). The registered model
is `credit` (or `--model-name`).

The knobs make real, differently flawed candidates:
  (defaults)                a good model
  --alpha 0.5               over-regularised: worse accuracy than a good champion
  --learning-rate 5         too large a step: the loss never settles
  --label-noise-b 0.8       most positives of group b mislabelled: unfair recall
"""

import argparse

import mlflow
import mlflow.sklearn
import numpy as np
from sklearn.datasets import make_classification
from sklearn.linear_model import SGDClassifier
from sklearn.metrics import accuracy_score, f1_score, log_loss, precision_score, recall_score
from sklearn.model_selection import train_test_split


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-name", default="credit")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--learning-rate", type=float, default=0.01)
    p.add_argument("--alpha", type=float, default=1e-4)
    p.add_argument("--label-noise-b", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    X, y = make_classification(
        n_samples=3000, n_features=10, n_informative=6, n_clusters_per_class=1, random_state=7
    )
    group = np.random.default_rng(7).integers(0, 2, len(y))
    X = np.hstack([X, group.reshape(-1, 1)])
    X_tr, X_te, y_tr, y_te, g_tr, g_te = train_test_split(X, y, group, test_size=0.3, random_state=7)

    rng = np.random.default_rng(args.seed)
    if args.label_noise_b > 0:
        flip = (g_tr == 1) & (y_tr == 1) & (rng.random(len(y_tr)) < args.label_noise_b)
        y_tr = np.where(flip, 0, y_tr)

    clf = SGDClassifier(
        loss="log_loss",
        learning_rate="constant",
        eta0=args.learning_rate,
        alpha=args.alpha,
        random_state=args.seed,
    )
    with mlflow.start_run():
        mlflow.log_params(vars(args))
        for epoch in range(args.epochs):
            clf.partial_fit(X_tr, y_tr, classes=[0, 1])
            mlflow.log_metric("train_loss", log_loss(y_tr, clf.predict_proba(X_tr)), step=epoch)
        pred = clf.predict(X_te)
        metrics = {
            "accuracy": accuracy_score(y_te, pred),
            "f1": f1_score(y_te, pred),
            "log_loss": log_loss(y_te, clf.predict_proba(X_te)),
        }
        for name, g in (("a", 0), ("b", 1)):
            mask = g_te == g
            metrics[f"recall_group_{name}"] = recall_score(y_te[mask], pred[mask])
            metrics[f"precision_group_{name}"] = precision_score(y_te[mask], pred[mask], zero_division=0)
        mlflow.log_metrics(metrics)
        mlflow.sklearn.log_model(clf, name="model", registered_model_name=args.model_name, input_example=X_te[:1])
        summary = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())
        print(f"Model saved in run {mlflow.active_run().info.run_id}: {summary}")


if __name__ == "__main__":
    main()
