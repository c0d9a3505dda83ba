#!/usr/bin/env python3
"""Secret hunt: the demo run with a secret in every secret-carrying variable, and then with
malformed values around the same secrets; no output may contain a secret or a 6-character
piece of one.

    tests/e2e/secret_hunt.py path/to/monitoring-demo

Outputs searched: stdout and stderr, the log directory (app.log and its rotations, gzip
backups unpacked), every endpoint with and without the bearer token (and with a wrong one),
every envelope the local Sentry ingest received, and the offline cache in SENTRY_CACHE_DIR.

Runs:
  1. live     - real PostgreSQL and Redis with passwords, a Sentry ingest, local Telegram,
                panel and payment peers that fail (401, 500, hang), so checks fail with
                messages; logs rotate; errors reach Sentry.
  2. offline  - wrong database and Redis passwords, the Sentry ingest stopped: events land in
                the offline cache, which is searched before a third run sends them.
  3. resend   - the cache is sent to the ingest (envelopes searched again).
  4. malformed - for each of a table of malformed values the demo must refuse to start, and
                its error must name the variable without echoing the secret.
Every run is bounded (DEMO_DURATION_SECONDS, timeouts on every request and wait).
"""

import gzip
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
PIECE = 6

# Random-looking, with no 6-character piece that could occur in ordinary output (hex ids,
# timestamps, words). Each run uses them in a different place.
PG_PASSWORD = "Pg7QwZx3Rv9Lk2Mn"
REDIS_PASSWORD = "Rd4TyU8iOpZsDfGh"
TELEGRAM_SECRET = "AAtg5HjK9LzXcVbN1mQwErTyUiOpAsQq"
TELEGRAM_TOKEN = "7391020455:" + TELEGRAM_SECRET
AUTH_TOKEN = "Mt8NbV2cXz5LkJhG6fDsQe"
DSN_KEY = "Sk9PqWmZ4tRy7UxVb2NcLo"
PANEL_PASSWORD = "Pn5RtY7uIk3OlPzAwQ"
PUSH_PASSWORD = "Pu2WsX6eDc4RfVgTyH"
PAY_PASSWORD = "Yk8HnJ3mKl9PoIuYtR"
SECRETS = [PG_PASSWORD, REDIS_PASSWORD, TELEGRAM_SECRET, AUTH_TOKEN, DSN_KEY, PANEL_PASSWORD,
           PUSH_PASSWORD, PAY_PASSWORD]

started = time.monotonic()


def log(text):
    print(f"[secret_hunt {time.monotonic() - started:4.0f}s] {text}", flush=True)


def fail(text):
    print(f"secret_hunt: FAIL: {text}", file=sys.stderr, flush=True)
    raise SystemExit(1)


def pieces(secret):
    return {secret[i:i + PIECE] for i in range(len(secret) - PIECE + 1)}


PIECES = {piece: secret for secret in SECRETS for piece in pieces(secret)}


def hunt(name, data):
    """Fails when `data` (bytes or str) holds a secret or a piece of one."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    # URL-encoded and JSON-escaped forms hold the same characters: secrets are alphanumeric.
    for piece, secret in PIECES.items():
        at = text.find(piece)
        if at >= 0:
            context = text[max(0, at - 80):at + 80].replace("\n", "\\n")
            fail(f"{name} holds '{piece}', a piece of secret {secret[:2]}…: …{context}…")


def without_dsc_public_key(header):
    """An envelope header (dict) without trace.public_key: a transaction's dynamic sampling
    context names the project's public key by protocol, for the same Sentry as the auth header."""
    trace = header.get("trace")
    if isinstance(trace, dict):
        trace.pop("public_key", None)
    return header


def hunt_tree(name, path):
    count = 0
    for directory, _, files in os.walk(path):
        for file in files:
            full = os.path.join(directory, file)
            with open(full, "rb") as handle:
                data = handle.read()
            if file.endswith(".gz"):
                data = gzip.decompress(data)
            if file.endswith(".envelope"):
                first, _, rest = data.partition(b"\n")
                try:
                    header = without_dsc_public_key(json.loads(first))
                    data = json.dumps(header).encode() + b"\n" + rest
                except ValueError:
                    pass  # not JSON: hunted as it is
            hunt(f"{name}/{os.path.relpath(full, path)}", data)
            count += 1
    return count


# ------------------------------------------------------------------------- fixtures and peers

def start_fixture(script, *args):
    out = subprocess.run(["bash", os.path.join(FIXTURES, script), "start", *args],
                         capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        fail(f"{script} start: {out.stderr[-2000:]}")
    values = dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)
    return values


def stop_fixture(script, values):
    if values:
        subprocess.run(["bash", os.path.join(FIXTURES, script), "stop", values["DIR"]],
                       capture_output=True, timeout=120)


class Peer(http.server.ThreadingHTTPServer):
    """A local HTTP peer answering every request with one status, or never (hang)."""
    daemon_threads = True

    def __init__(self, status):
        self.status = status
        self.requests = []
        self.release = threading.Event()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests.append(self.path)
                if outer.status == "hang":
                    outer.release.wait(60)
                    return
                body = b'{"ok":false,"description":"Unauthorized"}'
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_GET

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}"

    def close(self):
        self.release.set()
        self.shutdown()
        self.server_close()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url, headers=None):
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def fetch_json(url, method="GET", body=None):
    request = urllib.request.Request(url, method=method, data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read() or b"null")


# ------------------------------------------------------------------------------- the demo

class Demo:
    def __init__(self, binary, work, env):
        self.work = work
        self.port = free_port()
        os.makedirs(work, exist_ok=True)
        self.out = open(os.path.join(work, "stdout"), "wb")
        self.err = open(os.path.join(work, "stderr"), "wb")
        full_env = {
            "PATH": os.environ["PATH"], "HOME": work,
            "MONITORING_HOST": "127.0.0.1", "MONITORING_PORT": str(self.port),
            "LOG_DIR": os.path.join(work, "logs"), "SENTRY_CACHE_DIR": os.path.join(work, "cache"),
            "LOG_CONSOLE": "stderr",
        }
        full_env.update(env)
        self.process = subprocess.Popen([binary], cwd=work, env=full_env, stdin=subprocess.DEVNULL,
                                        stdout=self.out, stderr=self.err, start_new_session=True)

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_live(self):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                fail(f"demo exited with {self.process.returncode}: "
                     f"{open(os.path.join(self.work, 'stderr'), 'rb').read()[-2000:]!r}")
            try:
                if get(self.url("/live"))[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        fail("demo did not answer /live within 20 s")

    def wait_exit(self, timeout):
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            fail(f"demo did not exit within {timeout} s")
        finally:
            self.out.close()
            self.err.close()

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.wait_exit(30)


def hunt_endpoints(demo, name):
    """Every endpoint with no token, a wrong token and the right one, each Accept form."""
    count = 0
    tokens = {"none": None, "wrong": "Bearer wrong-token", "right": f"Bearer {AUTH_TOKEN}"}
    accepts = ["*/*", "application/health+json", "application/openmetrics-text; version=1.0.0"]
    paths = ["/metrics", "/health", "/ready", "/live", "/health?verbose=1", "/nope",
             f"/metrics?token={AUTH_TOKEN}"]
    for path in paths:
        for token_name, token in tokens.items():
            for accept in accepts:
                headers = {"Accept": accept}
                if token:
                    headers["Authorization"] = token
                status, response_headers, body = get(demo.url(path), headers)
                where = f"{name} GET {path.split('?')[0]} ({token_name} token, Accept {accept})"
                hunt(where, body)
                hunt(where + " headers", json.dumps(response_headers))
                count += 1
    return count


def hunt_demo_files(demo, name):
    files = hunt_tree(f"{name} logs", os.path.join(demo.work, "logs"))
    hunt(f"{name} stdout", open(os.path.join(demo.work, "stdout"), "rb").read())
    hunt(f"{name} stderr", open(os.path.join(demo.work, "stderr"), "rb").read())
    cache = os.path.join(demo.work, "cache")
    cached = hunt_tree(f"{name} offline cache", cache) if os.path.isdir(cache) else 0
    return files, cached


def hunt_envelopes(sentry, name):
    envelopes = fetch_json(sentry["URL"] + "/envelopes")
    for index, envelope in enumerate(envelopes):
        # The ingest keeps the auth header it got; the key belongs there and in a transaction's
        # sampling context (without_dsc_public_key), and nowhere else.
        envelope = {k: v for k, v in envelope.items() if k != "auth"}
        if isinstance(envelope.get("headers"), dict):
            without_dsc_public_key(envelope["headers"])
        hunt(f"{name} envelope {index}", json.dumps(envelope))
    return len(envelopes)


def main():
    if len(sys.argv) != 2:
        fail("usage: secret_hunt.py path/to/monitoring-demo")
    binary = os.path.abspath(sys.argv[1])
    if not os.access(binary, os.X_OK):
        fail(f"demo binary '{binary}' not found")
    tmp = tempfile.mkdtemp(prefix="secret-hunt-")
    os.environ["MONITORING_FIXTURE_OWNER"] = str(os.getpid())
    pg = redis = sentry = None
    peers = []
    try:
        log("PostgreSQL, Redis (both with passwords) and the Sentry ingest")
        pg = start_fixture("postgres.sh", "--password", PG_PASSWORD)
        redis = start_fixture("redis.sh", "--password", REDIS_PASSWORD)
        sentry = start_fixture("sentry.sh")
        sentry_port = sentry["URL"].rsplit(":", 1)[1]
        dsn = f"http://{DSN_KEY}@127.0.0.1:{sentry_port}/42"
        telegram, panel, payment = Peer(401), Peer(500), Peer("hang")
        peers = [telegram, panel, payment]
        pg_port, redis_port = pg["PORT"], redis["PORT"]
        secrets_env = {
            "TELEGRAM_TOKEN": TELEGRAM_TOKEN,
            "TELEGRAM_API_URL": telegram.url,
            "MONITORING_AUTH_TOKEN": AUTH_TOKEN,
            "SENTRY_DSN": dsn,
            "PANEL_URL": panel.url.replace("//", f"//admin:{PANEL_PASSWORD}@") + "/api",
            "PUSHGATEWAY_URL": f"http://push:{PUSH_PASSWORD}@127.0.0.1:{free_port()}",
            "PAYMENT_SYSTEMS": "yookassa=" + payment.url.replace("//", f"//shop:{PAY_PASSWORD}@"),
            "DEMO_SPEED": "200", "DEMO_SEED": "7", "LOG_LEVEL": "DEBUG",
            "LOG_MAX_BYTES": "64KiB", "LOG_BACKUP_COUNT": "3",
        }

        log("run 1: live, every secret set, dependencies failing in different ways")
        env = dict(secrets_env,
                   DATABASE_URL=f"postgresql://postgres:{PG_PASSWORD}@127.0.0.1:{pg_port}/postgres",
                   REDIS_URL=f"redis://:{REDIS_PASSWORD}@127.0.0.1:{redis_port}/0",
                   DEMO_DURATION_SECONDS="12")
        demo = Demo(binary, os.path.join(tmp, "live"), env)
        demo.wait_live()
        time.sleep(4)  # let checks run, errors happen and logs rotate
        requests = hunt_endpoints(demo, "live")
        if not telegram.requests:
            fail("the telegram check never called its peer: the run did not exercise it")
        if any(TELEGRAM_SECRET not in path for path in telegram.requests):
            fail(f"the telegram peer was called without the token: {telegram.requests}")
        demo.wait_exit(40)
        files, _ = hunt_demo_files(demo, "live")
        if files < 2:
            fail(f"live run: expected app.log and rotations, found {files} log files")
        envelopes = hunt_envelopes(sentry, "live")
        if envelopes == 0:
            fail("live run: the Sentry ingest got no envelope, so nothing of Sentry was hunted")
        log(f"  {requests} responses, {files} log files, {envelopes} envelopes: clean")

        log("run 2: wrong passwords, Sentry down: events go to the offline cache")
        stop_fixture("sentry.sh", sentry)
        sentry = None
        env = dict(secrets_env,
                   DATABASE_URL=f"postgresql://postgres:{PG_PASSWORD}x@127.0.0.1:{pg_port}/postgres",
                   REDIS_URL=f"redis://:{REDIS_PASSWORD}x@127.0.0.1:{redis_port}/0",
                   DEMO_DURATION_SECONDS="8")
        work = os.path.join(tmp, "offline")
        demo = Demo(binary, work, env)
        demo.wait_live()
        time.sleep(3)
        status, _, body = get(demo.url("/health"), {"Authorization": f"Bearer {AUTH_TOKEN}"})
        if status != 503 or b"database" not in body:
            fail(f"offline run: /health should report the failing database, got {status} {body[:300]!r}")
        requests = hunt_endpoints(demo, "offline")
        demo.wait_exit(40)
        files, cached = hunt_demo_files(demo, "offline")
        if cached == 0:
            fail("offline run: nothing in SENTRY_CACHE_DIR, so the cache was not hunted")
        log(f"  {requests} responses, {files} log files, {cached} cached files: clean")

        log("run 3: the cache is sent on the next start")
        sentry = start_fixture("sentry.sh")
        dsn = f"http://{DSN_KEY}@127.0.0.1:{sentry['URL'].rsplit(':', 1)[1]}/42"
        env = dict(secrets_env, SENTRY_DSN=dsn, DEMO_DURATION_SECONDS="3")
        demo = Demo(binary, work, env)  # same directory: same SENTRY_CACHE_DIR
        demo.wait_live()
        demo.wait_exit(40)
        hunt_demo_files(demo, "resend")
        envelopes = hunt_envelopes(sentry, "resend")
        if envelopes == 0:
            fail("resend run: the cached envelopes did not arrive")
        log(f"  {envelopes} envelopes: clean")

        log("run 4: malformed values carrying secrets must be refused without echoing them")
        # (variable, value, refused): a malformed DSN is reported and the service runs on
        # without Sentry (error reporting is an add-on); surrounding whitespace is trimmed.
        malformed = [
            ("DATABASE_URL", f'"postgresql://app:{PG_PASSWORD}@db/app"', True),
            ("DATABASE_URL", f"postgresql:/app:{PG_PASSWORD}@db/app", True),
            ("DATABASE_URL", f"postgresql://app:{PG_PASSWORD}@db:99x/app", True),
            ("DATABASE_URL", f"postgresql//app:{PG_PASSWORD}@db/app", True),
            ("REDIS_URL", f"redis://:{REDIS_PASSWORD[:6]}/{REDIS_PASSWORD[6:]}@127.0.0.1:bad", True),
            ("REDIS_URL", f"rediss//:{REDIS_PASSWORD}@h:6380/0", True),
            ("REDIS_URL", f" redis://:{REDIS_PASSWORD}@h:6379/x", True),
            ("PANEL_URL", f"https//admin:{PANEL_PASSWORD}@h", True),
            ("PANEL_URL", f"ftp://admin:{PANEL_PASSWORD}@h/", True),
            ("PANEL_URL", f"//admin:{PANEL_PASSWORD}@h/", True),
            ("PAYMENT_SYSTEMS", f"yookassa=htp://shop:{PAY_PASSWORD}@h", True),
            ("PAYMENT_SYSTEMS", f"yoo kassa=http://shop:{PAY_PASSWORD}@h", True),
            ("TELEGRAM_API_URL", f"http://bot:{TELEGRAM_SECRET}@h:x/", True),
            ("TELEGRAM_TOKEN", f"{TELEGRAM_SECRET}", True),
            ("MONITORING_AUTH_TOKEN", f"{AUTH_TOKEN} {AUTH_TOKEN}", True),
            ("MONITORING_AUTH_TOKEN", f"{AUTH_TOKEN}\u00e9", True),
            ("SENTRY_DSN", f"http//{DSN_KEY}@h/1", False),
            ("SENTRY_DSN", f"http://{DSN_KEY}@h/notanumber", False),
            ("SENTRY_DSN", f"{DSN_KEY}", False),
            ("SENTRY_DSN", f"http://{DSN_KEY}:{PG_PASSWORD}@h/1x", False),
            ("TELEGRAM_TOKEN", f"7391020455:{TELEGRAM_SECRET}\n", False),
        ]
        refused = 0
        for index, (variable, value, refuse) in enumerate(malformed):
            env = {variable: value, "DEMO_DURATION_SECONDS": "2"}
            demo = Demo(binary, os.path.join(tmp, f"malformed-{index}"), env)
            code = demo.wait_exit(20)
            err = open(os.path.join(demo.work, "stderr"), "rb").read()
            name = f"malformed {variable} #{index}"
            if refuse and code == 0:
                fail(f"{name}: the demo accepted {variable} (exit 0); stderr: {err[-500:]!r}")
            if not refuse and code != 0:
                fail(f"{name}: the demo refused to start (exit {code}): {err[-500:]!r}")
            if variable == "SENTRY_DSN" and variable.encode() not in err:
                fail(f"{name}: nothing on stderr names {variable}: {err[-500:]!r}")
            if refuse and variable.encode() not in err:
                fail(f"{name}: the error does not name {variable}: {err[-500:]!r}")
            hunt_demo_files(demo, name)
            refused += refuse
        log(f"  {len(malformed)} malformed values ({refused} refused, the rest reported): none echoed a secret")
        log("PASS")
    finally:
        for peer in peers:
            peer.close()
        stop_fixture("sentry.sh", sentry)
        stop_fixture("redis.sh", redis)
        stop_fixture("postgres.sh", pg)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
