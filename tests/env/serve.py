"""Runs a real MLflow tracking server for the end-to-end tests.

    python serve.py --port PORT --dir DIR [--parent PID] [--template DB]
                    [--auth] [--tls-cert PEM --tls-key PEM] [--default-workers]

Starts `mlflow server` on 127.0.0.1:PORT with a SQLite store in DIR (copied
from TEMPLATE, an already-migrated database, when given) and artifacts in
DIR/artifacts. Stops the server when the parent process (the test binary)
exits, so no server outlives a test run.

`--auth` runs MLflow's own `basic-auth` app (users and permissions in
DIR/basic_auth.db, default permission READ, the admin's password from
MLFLOW_AUTH_ADMIN_PASSWORD); `--tls-cert`/`--tls-key` make its uvicorn serve
HTTPS with that certificate. `--default-workers` leaves the number of
workers (4) and the webhook cache's TTL (60 s) to MLflow, as users run
it; then each worker would encrypt
webhook secrets with a key of its own unless MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY
is set, so it is (to a fixed test key, when the environment has none).

SIGUSR1 stops the MLflow server and starts it again on the same port (the
MLflow server stopped and restarted once, for the chaos test): the
restart's time is written to DIR/restarted.
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--parent", type=int, default=os.getppid())
    p.add_argument("--template")
    p.add_argument("--auth", action="store_true")
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--default-workers", action="store_true")
    args = p.parse_args()

    os.makedirs(args.dir, exist_ok=True)
    db = os.path.join(args.dir, "mlflow.db")
    if args.template and os.path.exists(args.template) and not os.path.exists(db):
        shutil.copyfile(args.template, db)
    mlflow = os.path.join(os.path.dirname(sys.executable), "mlflow")
    log = open(os.path.join(args.dir, "server.log"), "ab")
    command = [
        mlflow, "server",
        "--backend-store-uri", f"sqlite:///{db}",
        "--default-artifact-root", os.path.join(args.dir, "artifacts"),
        "--host", "127.0.0.1",
        "--port", str(args.port),
    ]
    extra = {}
    if args.default_workers:
        extra["MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY"] = os.environ.get(
            "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY",
            # A Fernet key (32 url-safe base64 bytes), for tests only.
            "bW9kZWxnYXRlLXRlc3RzLW9ubHktZmVybmV0LWtleSE=",
        )
    else:
        command += ["--workers", "1"]
        # No minute-long cache of who subscribed (MLflow caches subscriptions
        # for 60 s), for tests that create webhooks after events. The
        # default-workers server keeps MLflow's default: its webhooks are
        # created before any event, as a deployment's are.
        extra["MLFLOW_WEBHOOK_CACHE_TTL"] = "1"
    if args.auth:
        config = os.path.join(args.dir, "basic_auth.ini")
        with open(config, "w") as f:
            f.write(
                "[mlflow]\n"
                "default_permission = READ\n"
                f"database_uri = sqlite:///{os.path.join(args.dir, 'basic_auth.db')}\n"
                "admin_username = admin\n"
                "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
                "grant_default_workspace_access = false\n"
            )
        command += ["--app-name", "basic-auth"]
        extra["MLFLOW_AUTH_CONFIG_PATH"] = config
        extra["MLFLOW_FLASK_SERVER_SECRET_KEY"] = "modelgate-tests"
    if args.tls_cert:
        command += ["--uvicorn-opts", f"--ssl-certfile {args.tls_cert} --ssl-keyfile {args.tls_key}"]
    def start():
        return subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # Webhooks to `modelgate serve` on loopback over plain HTTP (MLflow's
            # defaults refuse private addresses and http).
            env=dict(
                os.environ,
                MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS="true",
                MLFLOW_WEBHOOK_ALLOWED_SCHEMES="http,https",
                **extra,
            ),
        )

    server = start()
    restart = []

    def stop(*_):
        try:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=10)
        except Exception:
            try:
                os.killpg(server.pid, signal.SIGKILL)
            except Exception:
                pass
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGUSR1, lambda *_: restart.append(True))
    while alive(args.parent):
        if restart:
            restart.clear()
            try:
                os.killpg(server.pid, signal.SIGTERM)
                server.wait(timeout=10)
            except Exception:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
            time.sleep(2)
            server = start()
            with open(os.path.join(args.dir, "restarted"), "w") as f:
                f.write(str(time.time()))
        if server.poll() is not None:
            break
        time.sleep(0.2)
    stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
