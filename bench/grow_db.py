"""Grows a copy of an MLflow SQLite database to N registered versions.

    python bench/grow_db.py SRC.db DST.db [--versions 10000] [--model sweep]

Registers model MODEL with N versions, each with its own run whose metrics
are `score` (uniform in [0.4, 1.0], seeded) and `loss`, and, as MLflow 3
registers a version, its own LoggedModel (`source: models:/m-…`) with the
same two metrics, the training run's as MLflow 3's `log_model` links them,
and one evaluation's (`accuracy` on dataset `holdout`, from [0.7, 1.0]). Every row is a copy of a row MLflow itself
wrote in SRC (its first model version, that version's run with its params,
tags, metrics and latest_metrics, and its LoggedModel with its tags,
params and metrics) with the keys changed, so the grown database reads
exactly like one MLflow filled. `--runs-only` leaves the LoggedModels out
(versions registered MLflow 2's way, `source: runs:/…`). Standard library
only.
"""

import argparse
import random
import shutil
import sqlite3
import uuid


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--versions", type=int, default=10000)
    ap.add_argument("--model", default="sweep")
    ap.add_argument("--runs-only", action="store_true", help="no LoggedModels (MLflow 2's way)")
    args = ap.parse_args()
    shutil.copyfile(args.src, args.dst)
    db = sqlite3.connect(args.dst)
    rnd = random.Random(1)
    (src_model, src_version, src_run, src_source) = db.execute(
        "SELECT name, version, run_id, source FROM model_versions ORDER BY creation_time LIMIT 1"
    ).fetchone()
    src_model_id = src_source.removeprefix("models:/")
    assert src_model_id.startswith("m-"), f"{src_source}: SRC's version has no LoggedModel"

    def columns(table):
        return [r[1] for r in db.execute(f"PRAGMA table_info({table})")]

    # The source rows of each (table, where, params), read once: selecting
    # them again for every version scanned tables that grow with the copies
    # (`tags` and `metrics` are not keyed by run first), which made growing
    # to 100,000 versions quadratic.
    sources = {}

    def copy(table, where, params, changes):
        """Copies the rows of `table` matching `where`, with `changes` applied."""
        key = (table, where, tuple(sorted(params.items())))
        if key not in sources:
            cols = columns(table)
            rows = db.execute(f"SELECT {', '.join(cols)} FROM {table} WHERE {where}", params).fetchall()
            insert = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
            sources[key] = (cols, rows, insert)
        cols, rows, insert = sources[key]
        db.executemany(
            insert,
            [[changes[c] if c in changes else v for c, v in zip(cols, row)] for row in rows],
        )

    copy("registered_models", "name = :src", {"src": src_model}, {"name": args.model})
    base_time = db.execute(
        "SELECT creation_time FROM model_versions WHERE name = ? AND version = ?",
        (src_model, src_version),
    ).fetchone()[0]
    for v in range(1, args.versions + 1):
        run = uuid.UUID(int=rnd.getrandbits(128)).hex
        t = base_time + v * 1000
        key = {"src_run": src_run}
        copy("runs", "run_uuid = :src_run", key, {"run_uuid": run, "name": f"sweep-{v}", "start_time": t, "end_time": t + 500})
        copy("params", "run_uuid = :src_run", key, {"run_uuid": run})
        copy("tags", "run_uuid = :src_run", key, {"run_uuid": run})
        score, loss = round(rnd.uniform(0.4, 1.0), 4), rnd.random()
        for metric, value in (("score", score), ("loss", loss)):
            for table in ("metrics", "latest_metrics"):
                copy(
                    table,
                    "run_uuid = :src_run AND key = 'score'",
                    key,
                    {"run_uuid": run, "key": metric, "value": value, "timestamp": t},
                )
        version = {"name": args.model, "version": v, "run_id": run, "creation_time": t,
                   "last_updated_time": t}
        if args.runs_only:
            version |= {"source": f"runs:/{run}/model", "storage_location": None}
        else:
            model_id = "m-" + uuid.UUID(int=rnd.getrandbits(128)).hex
            version["source"] = f"models:/{model_id}"
            mkey = {"src_model": src_model_id}
            copy("logged_models", "model_id = :src_model", mkey,
                 {"model_id": model_id, "source_run_id": run, "creation_timestamp_ms": t,
                  "last_updated_timestamp_ms": t})
            copy("logged_model_tags", "model_id = :src_model", mkey, {"model_id": model_id})
            copy("logged_model_params", "model_id = :src_model", mkey, {"model_id": model_id})
            evaluation = round(rnd.uniform(0.7, 1.0), 4)
            for metric, value, dataset in (
                ("score", score, None),
                ("loss", loss, None),
                ("accuracy", evaluation, ("holdout", "1f2e3d4c")),
            ):
                copy(
                    "logged_model_metrics",
                    "model_id = :src_model AND metric_name = 'score'",
                    mkey,
                    {"model_id": model_id, "metric_name": metric, "metric_value": value,
                     "metric_timestamp_ms": t + (1 if dataset else 0), "run_id": run,
                     "dataset_name": dataset and dataset[0],
                     "dataset_digest": dataset and dataset[1]},
                )
        copy(
            "model_versions",
            "name = :src AND version = :srcv",
            {"src": src_model, "srcv": src_version},
            version,
        )
    db.commit()
    n = db.execute("SELECT count(*) FROM model_versions WHERE name = ?", (args.model,)).fetchone()[0]
    print(f"{args.dst}: model {args.model} with {n} versions")


if __name__ == "__main__":
    main()
