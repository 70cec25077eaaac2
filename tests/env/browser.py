"""Drives headless Chromium over the DevTools protocol for the e2e tests.

    browser.py URL [--width W] [--height H] [--wait JS] [--timeout S]
               [--eval NAME=JS ...] [--screenshot FILE.png]
               [--run COMMAND] [--then-wait JS] [--then-eval NAME=JS ...]

Opens URL in a fresh profile, waits for the load event and then until the
expression `--wait` is true (if given), evaluates each `--eval` expression,
runs `--run` (a shell command: the tests register a version with it while
the page is open), waits for `--then-wait` without reloading the page (a
page that updates itself), evaluates each `--then-eval`, and prints one
JSON object:

    {"evals": {NAME: value}, "dialogs": [...], "exceptions": [...],
     "console": [...], "log": [...], "waited": bool, "then_waited": bool,
     "then_waited_at": unix time when it held,
     "screenshot": {"width", "height", "colors"}}

`dialogs` lists every alert/confirm/prompt the page opened (a script that
ran), `exceptions` the uncaught ones, `log` the browser's own messages
(Content-Security-Policy violations among them). `colors` counts the
distinct colours of the screenshot (a blank page has one).

The protocol runs over `--remote-debugging-pipe` (file descriptors 3 and
4), so no port is opened and nothing but the Python standard library is
needed. Every wait is bounded by `--timeout`; Chromium is killed at exit.
"""

import argparse
import base64
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class Browser:
    def __init__(self, width, height, timeout):
        self.deadline = time.monotonic() + timeout
        self.profile = tempfile.mkdtemp(prefix="modelgate-browser-")
        to_chrome_r, self.to_chrome = os.pipe()
        self.from_chrome, from_chrome_w = os.pipe()

        # Chromium talks on descriptors 3 and 4; a shell puts the pipes there.
        self.proc = subprocess.Popen(
            [
                "/bin/sh",
                "-c",
                f'exec 3<&{to_chrome_r} 4>&{from_chrome_w}; exec "$@"',
                "sh",
                chromium(),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--hide-scrollbars",
                "--mute-audio",
                f"--user-data-dir={self.profile}",
                f"--window-size={width},{height}",
                "--remote-debugging-pipe",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(to_chrome_r, from_chrome_w),
            start_new_session=True,
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self.buf = b""
        self.next_id = 0
        self.events = []
        self.session = None

    def close(self):
        try:
            # The whole group: the wrapper's children too.
            os.killpg(self.proc.pid, 9)
            self.proc.wait(timeout=10)
        except Exception:
            pass
        shutil.rmtree(self.profile, ignore_errors=True)

    def _read_message(self):
        while b"\0" not in self.buf:
            if time.monotonic() > self.deadline:
                raise TimeoutError("the browser did not answer in time")
            import select

            ready, _, _ = select.select([self.from_chrome], [], [], 0.2)
            if not ready:
                continue
            chunk = os.read(self.from_chrome, 1 << 20)
            if not chunk:
                raise RuntimeError("the browser closed the pipe (did it crash?)")
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def send(self, method, params=None, session=True):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self.to_chrome, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._read_message()
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self._event(reply)

    def _event(self, msg):
        method = msg.get("method")
        if method:
            self.events.append(msg)
            if method == "Page.javascriptDialogOpening":
                # Answer it, or the page stays blocked.
                self.next_id += 1
                os.write(
                    self.to_chrome,
                    json.dumps(
                        {
                            "id": self.next_id,
                            "method": "Page.handleJavaScriptDialog",
                            "params": {"accept": True},
                            "sessionId": self.session,
                        }
                    ).encode()
                    + b"\0",
                )

    def pump(self, seconds):
        """Takes events for up to `seconds`."""
        end = min(time.monotonic() + seconds, self.deadline)
        import select

        while time.monotonic() < end:
            if b"\0" in self.buf:
                self._event(self._read_message())
                continue
            ready, _, _ = select.select([self.from_chrome], [], [], 0.05)
            if ready:
                chunk = os.read(self.from_chrome, 1 << 20)
                if not chunk:
                    return
                self.buf += chunk

    def open(self, url, width, height):
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)
        attached = self.send(
            "Target.attachToTarget",
            {"targetId": target["targetId"], "flatten": True},
            session=False,
        )
        self.session = attached["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable")
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )
        self.events.clear()
        self.send("Page.navigate", {"url": url})
        while not any(e["method"] == "Page.loadEventFired" for e in self.events):
            self.pump(0.1)
            if time.monotonic() > self.deadline:
                raise TimeoutError(f"{url} did not load in time")

    def evaluate(self, expr):
        r = self.send(
            "Runtime.evaluate",
            {"expression": expr, "returnByValue": True, "awaitPromise": True},
        )
        if "exceptionDetails" in r:
            return {"error": r["exceptionDetails"].get("text", "exception")}
        return r["result"].get("value")

    def wait_for(self, expr):
        while time.monotonic() < self.deadline:
            if self.evaluate(f"Boolean({expr})") is True:
                return True
            self.pump(0.1)
        # Time for the evaluations and screenshot that say what was seen.
        self.deadline = time.monotonic() + 15
        return False


def png_colors(data):
    """(width, height, distinct colours) of an 8-bit RGB(A) PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, b""
    width = height = ctype = None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, ctype = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and ctype in (2, 6), f"PNG depth {depth} type {ctype}"
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    bpp = 4 if ctype == 6 else 3
    raw = zlib.decompress(idat)
    stride = width * bpp
    prev = bytearray(stride)
    colors = set()
    i = 0
    for _ in range(height):
        ftype = raw[i]
        line = bytearray(raw[i + 1 : i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if ftype == 1:
                line[x] = (line[x] + a) & 0xFF
            elif ftype == 2:
                line[x] = (line[x] + b) & 0xFF
            elif ftype == 3:
                line[x] = (line[x] + ((a + b) >> 1)) & 0xFF
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[x] = (line[x] + pred) & 0xFF
        # Every 7th pixel of every row is plenty to tell blank from drawn.
        for x in range(0, width, 7):
            colors.add(bytes(line[x * bpp : x * bpp + 3]))
        prev = line
    return width, height, len(colors)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--width", type=int, default=1024)
    ap.add_argument("--height", type=int, default=768)
    ap.add_argument("--wait")
    ap.add_argument("--then-wait")
    ap.add_argument("--then-eval", action="append", default=[])
    ap.add_argument("--run")
    ap.add_argument("--timeout", type=float, default=30)
    ap.add_argument("--eval", action="append", default=[])
    ap.add_argument("--screenshot")
    args = ap.parse_args()
    if not chromium():
        print("error: no chromium on PATH", file=sys.stderr)
        sys.exit(3)
    b = Browser(args.width, args.height, args.timeout)
    out = {"evals": {}}
    try:
        b.open(args.url, args.width, args.height)
        out["waited"] = b.wait_for(args.wait) if args.wait else True
        for item in args.eval:
            name, expr = item.split("=", 1)
            out["evals"][name] = b.evaluate(expr)
        if args.run:
            ran = subprocess.run(args.run, shell=True, capture_output=True, text=True)
            out["ran"] = {"code": ran.returncode, "output": (ran.stdout + ran.stderr)[-4000:]}
        if args.then_wait:
            out["then_waited"] = b.wait_for(args.then_wait)
            out["then_waited_at"] = time.time()
        for item in args.then_eval:
            name, expr = item.split("=", 1)
            out["evals"][name] = b.evaluate(expr)
        # Late events (a script's error, a policy violation) come in.
        b.pump(0.3)
        if args.screenshot:
            shot = b.send("Page.captureScreenshot", {"format": "png"})
            data = base64.b64decode(shot["data"])
            with open(args.screenshot, "wb") as f:
                f.write(data)
            w, h, colors = png_colors(data)
            out["screenshot"] = {"width": w, "height": h, "colors": colors}
    finally:
        b.close()
    ev = b.events
    out["dialogs"] = [e["params"].get("message") for e in ev if e["method"] == "Page.javascriptDialogOpening"]
    out["exceptions"] = [
        e["params"]["exceptionDetails"].get("text") for e in ev if e["method"] == "Runtime.exceptionThrown"
    ]
    out["console"] = [
        " ".join(str(a.get("value", a.get("description", ""))) for a in e["params"].get("args", []))
        for e in ev
        if e["method"] == "Runtime.consoleAPICalled"
    ]
    out["log"] = [e["params"]["entry"].get("text") for e in ev if e["method"] == "Log.entryAdded"]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
