"""Grows a copy of an MLflow SQLite database to N registered versions.

    python bench/grow_db.py SRC.db DST.db [--versions 10000] [--model sweep]

Registers model MODEL with N versions, each with its own run whose metrics
are `score` (uniform in [0.4, 1.0], seeded) and `loss`. Every row is a copy
of a row MLflow itself wrote in SRC (its first model version and that
version's run, with its params, tags, metrics and latest_metrics) with the
keys changed, so the grown database reads exactly like one MLflow filled.
Standard library only.
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
    args = ap.parse_args()
    shutil.copyfile(args.src, args.dst)
    db = sqlite3.connect(args.dst)
    rnd = random.Random(1)
    (src_model, src_version, src_run) = db.execute(
        "SELECT name, version, run_id FROM model_versions ORDER BY creation_time LIMIT 1"
    ).fetchone()

    def columns(table):
        return [r[1] for r in db.execute(f"PRAGMA table_info({table})")]

    def copy(table, where, params, changes):
        """Copies the rows of `table` matching `where`, with `changes` applied."""
        cols = columns(table)
        select = ", ".join(f":{c}" if c in changes else c for c in cols)
        db.execute(
            f"INSERT INTO {table} ({', '.join(cols)}) SELECT {select} FROM {table} WHERE {where}",
            {**params, **changes},
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
        for metric, value in (("score", round(rnd.uniform(0.4, 1.0), 4)), ("loss", rnd.random())):
            for table in ("metrics", "latest_metrics"):
                copy(
                    table,
                    "run_uuid = :src_run AND key = 'score'",
                    key,
                    {"run_uuid": run, "key": metric, "value": value, "timestamp": t},
                )
        copy(
            "model_versions",
            "name = :src AND version = :srcv",
            {"src": src_model, "srcv": src_version},
            {"name": args.model, "version": v, "run_id": run, "creation_time": t, "last_updated_time": t},
        )
    db.commit()
    n = db.execute("SELECT count(*) FROM model_versions WHERE name = ?", (args.model,)).fetchone()[0]
    print(f"{args.dst}: model {args.model} with {n} versions")


if __name__ == "__main__":
    main()
