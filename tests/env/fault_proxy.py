"""A fault-injecting HTTP proxy in front of an MLflow server, for tests that
must hit a crash window or a transient error deterministically.

    python fault_proxy.py --upstream http://127.0.0.1:5000 [--upstream URL ...]
                          --port PORT [--parent PID]

Every request is forwarded to the upstream as it came, unless a rule
matches it first; with several upstreams, to each in turn (round-robin, as
a load balancer in front of replicas would). Rules are set, and what they did is read, on the proxy's
own paths:

  PUT  /__fault/rules    [{"method": "POST", "path": "/api/2.0/mlflow/...",
                           "contains": ["text", "in the body"], "action": A,
                           "status": 400, "body": "...", "times": 1}, ...]
       A is "fail" (answer `status` with `body`), "hold" (keep the request
       until /__fault/release, however long that takes) or "drop" (close
       the connection unanswered).
       `times`: how many requests the rule takes (then it is spent).
  GET  /__fault/state    {"held": [{"path", "body"}], "hits": [n per rule],
                          "requests": n forwarded}
  POST /__fault/release  {"forward": true|false}: held requests go on to
                          the upstream, or their connections are closed.

A request the upstream cannot take (down, restarting) is answered 502.
The proxy exits when the parent process does.
"""

import argparse
import http.client
import json
import os
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
RULES = []
HITS = []
HELD = []  # [(event, decision, description)]
FORWARDED = [0]
TURN = [0]


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    upstreams = []

    def log_message(self, *args):
        pass

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def answer(self, status, body, content_type="application/json"):
        data = body if isinstance(body, bytes) else body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def control(self, body):
        if self.path == "/__fault/rules" and self.command == "PUT":
            with LOCK:
                RULES[:] = json.loads(body or b"[]")
                HITS[:] = [0] * len(RULES)
            return self.answer(200, "{}")
        if self.path == "/__fault/state":
            with LOCK:
                state = {
                    "held": [d for _, _, d in HELD],
                    "hits": list(HITS),
                    "requests": FORWARDED[0],
                }
            return self.answer(200, json.dumps(state))
        if self.path == "/__fault/release" and self.command == "POST":
            forward = json.loads(body or b"{}").get("forward", True)
            with LOCK:
                held = HELD[:]
                HELD.clear()
            for event, decision, _ in held:
                decision.append(forward)
                event.set()
            return self.answer(200, json.dumps({"released": len(held)}))
        return self.answer(404, "{}")

    def rule_for(self, body):
        text = body.decode("utf-8", "replace")
        with LOCK:
            for i, r in enumerate(RULES):
                if r.get("times", 1) <= HITS[i]:
                    continue
                if r.get("method", self.command) != self.command:
                    continue
                if not self.path.startswith(r.get("path", "")):
                    continue
                needles = r.get("contains", [])
                if isinstance(needles, str):
                    needles = [needles]
                if not all(n in text for n in needles):
                    continue
                HITS[i] += 1
                return r
        return None

    def forward(self, body):
        with LOCK:
            upstream = self.upstreams[TURN[0] % len(self.upstreams)]
            TURN[0] += 1
        u = urllib.parse.urlsplit(upstream)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        headers = {
            k: v for k, v in self.headers.items()
            if k.lower() not in ("host", "connection", "keep-alive")
        }
        try:
            conn.request(self.command, self.path, body=body or None, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        except OSError as e:
            return self.answer(502, json.dumps({"error": f"upstream: {e}"}))
        finally:
            conn.close()
        with LOCK:
            FORWARDED[0] += 1
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def handle_any(self):
        body = self.body()
        if self.path.startswith("/__fault/"):
            return self.control(body)
        rule = self.rule_for(body)
        if rule is None:
            return self.forward(body)
        action = rule.get("action", "fail")
        if action == "fail":
            return self.answer(rule.get("status", 500), rule.get("body", "{}"))
        if action == "hold":
            event, decision = threading.Event(), []
            with LOCK:
                HELD.append((event, decision, {"path": self.path, "body": body.decode("utf-8", "replace")}))
            event.wait()
            if decision and decision[0]:
                return self.forward(body)
        # "drop", or a held request released without forwarding.
        self.close_connection = True
        try:
            self.connection.shutdown(2)
        except OSError:
            pass

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--upstream", required=True, action="append")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--parent", type=int, default=os.getppid())
    args = p.parse_args()
    Handler.upstreams = [u.rstrip("/") for u in args.upstream]
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    while alive(args.parent):
        time.sleep(0.5)
    server.shutdown()


if __name__ == "__main__":
    main()
