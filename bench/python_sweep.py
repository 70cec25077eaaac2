"""The straightforward Python sweep modelgate's `--all-versions` is compared
with: one `get_model_version` and one `get_run` per version through
MlflowClient, applying the same threshold (score >= 0.6).

    MLFLOW_TRACKING_URI=... python python_sweep.py MODEL
"""

import sys

from mlflow import MlflowClient


def main() -> int:
    name = sys.argv[1]
    client = MlflowClient()
    numbers = sorted(int(v.version) for v in client.search_model_versions(f"name='{name}'"))
    passed = 0
    for n in numbers:
        version = client.get_model_version(name, str(n))
        run = client.get_run(version.run_id)
        score = run.data.metrics.get("score")
        if score is not None and score >= 0.6:
            passed += 1
    print(f"{passed} of {len(numbers)} versions passed")
    return 0 if passed == len(numbers) else 1


if __name__ == "__main__":
    sys.exit(main())
