#!/usr/bin/env python3
"""How long a revocation takes to reach every gateway, under load, with replicas.

Two auth-service instances on one PostgreSQL database, one resource-service, three gateway
replicas (upstream `auth` is both instances; gateways 1 and 3 follow instance 1's
revocation stream, gateway 2 instance 2's, so a change made on one instance must reach
gateways that follow the other). While LOAD_THREADS clients call /protected on every
gateway with bystander tokens (never revoked) without pause, each round logs a user in,
checks the token on all three gateways (so each has it cached), revokes it, and times
how long each gateway keeps accepting it (polling every 5 ms). Rounds alternate between a
logout through a gateway (either instance may take it), an admin's `sessions revoke
<user>`, and a password change; the last round withdraws the signing key with
`keys revoke`, timed on a token it signed (the bystanders, signed by it too, are logged in
again after it and are not counted as wrongly refused).

Reports the delays (p50, p99, max, over every round and gateway), the bystander requests
and how many were refused (must be 0), and each gateway's revocation lag figure. Fails
when a gateway still accepts a revoked token after --bound seconds or a bystander request
is refused.

Usage: bench/revocation.py [--profile release|debug] [--rounds N] [--bound S]
The binaries come from ${CARGO_TARGET_DIR:-target}/<profile>; build them first. PostgreSQL
comes from scripts/postgres-for-tests.sh (or TEST_DATABASE_URL).
"""

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOAD_THREADS = 3
PASSWORD = "a-bench-password-1"
POLL_S = 0.005


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(port, method, path, body=None, headers=None, timeout=10):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        payload = json.dumps(body) if body is not None else None
        all_headers = {"content-type": "application/json", **(headers or {})}
        conn.request(method, path, body=payload, headers=all_headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def wait_ready(port, deadline_s=60):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            if call(port, "GET", "/health/ready", timeout=1)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"nothing ready on port {port}")


def database(workdir):
    server = os.environ.get("TEST_DATABASE_URL")
    if not server:
        server = subprocess.run([os.path.join(ROOT, "scripts", "postgres-for-tests.sh"), "start"],
                                capture_output=True, text=True, check=True).stdout.strip()
    name = f"revocation_bench_{uuid.uuid4().hex[:12]}"
    base = server.rsplit("/", 1)[0]
    psql = ["psql", server, "-q", "-c", f"CREATE DATABASE {name}"]
    if subprocess.run(psql, capture_output=True).returncode != 0:
        # No psql client: let the first auth-service create nothing, and use the server's db.
        return server
    return f"{base}/{name}"


class Stack:
    def __init__(self, bin_dir, workdir, db_url):
        self.bin_dir, self.workdir, self.db_url = bin_dir, workdir, db_url
        self.procs = []
        self.auth = [free_port(), free_port()]
        self.auth_admin = [free_port(), free_port()]
        self.resource = free_port()
        self.gateways = [free_port(), free_port(), free_port()]
        self.gateway_admin = [free_port(), free_port(), free_port()]

    def start(self, name, binary, env):
        log = open(os.path.join(self.workdir, f"{name}.log"), "wb")
        full = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "RUST_LOG": "warn",
                "APP_ENVIRONMENT": "local", **env}
        self.procs.append(subprocess.Popen([os.path.join(self.bin_dir, binary)], env=full,
                                           cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT))

    def auth_env(self, n):
        return {"AUTH__APPLICATION__PORT": str(self.auth[n]),
                "AUTH__ADMIN__PORT": str(self.auth_admin[n]),
                "AUTH__DATABASE__URL": self.db_url,
                "AUTH__REGISTRATION__ENABLED": "true",
                # Logins and sessions of a benchmark, not of attackers.
                "AUTH__LOGIN__MAX_FAILURES_PER_ADDRESS": "100000",
                "AUTH__REFRESH__MAX_PER_USER": "100000"}

    def up(self):
        # The first instance creates the schema and the key; the second starts on them.
        self.start("auth-1", "auth-service", self.auth_env(0))
        wait_ready(self.auth[0])
        self.start("auth-2", "auth-service", self.auth_env(1))
        self.start("resource", "resource-service", {"RESOURCE__APPLICATION__PORT": str(self.resource)})
        auth_urls = ",".join(f"http://127.0.0.1:{p}" for p in self.auth)
        for n, port in enumerate(self.gateways):
            stream = self.auth_admin[1 if n == 1 else 0]
            self.start(f"gateway-{n + 1}", "gateway", {
                "GATEWAY__APPLICATION__PORT": str(port),
                "GATEWAY__ADMIN__PORT": str(self.gateway_admin[n]),
                "GATEWAY__JWT__JWKS_URL": f"http://127.0.0.1:{self.auth[n % 2]}/.well-known/jwks.json",
                "GATEWAY__UPSTREAMS__AUTH__URL": auth_urls,
                "GATEWAY__UPSTREAMS__RESOURCE__URL": f"http://127.0.0.1:{self.resource}",
                "GATEWAY__REVOCATIONS__URL": f"http://127.0.0.1:{stream}/revocations",
            })
        for port in [self.auth[1], self.resource, *self.gateways]:
            wait_ready(port)

    def cli(self, *args, stdin=""):
        env = {"PATH": os.environ.get("PATH", ""), "APP_ENVIRONMENT": "local",
               "AUTH__DATABASE__URL": self.db_url}
        result = subprocess.run([os.path.join(self.bin_dir, "auth-service"), *args], input=stdin,
                                env=env, capture_output=True, text=True, cwd=self.workdir)
        if result.returncode != 0:
            raise RuntimeError(f"auth-service {' '.join(args)}: {result.stderr}")
        return result.stdout

    def stop(self):
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def login(port, user, password=PASSWORD):
    status, body = call(port, "POST", "/login", {"username": user, "password": password})
    if status != 200:
        raise RuntimeError(f"login of {user} on {port}: {status} {body[:200]}")
    return json.loads(body)


def protected(port, token):
    return call(port, "GET", "/protected", headers={"authorization": f"Bearer {token}"})[0]


class Load:
    """Bystanders calling /protected on every gateway without pause."""

    def __init__(self, gateways, tokens):
        self.gateways, self.tokens = gateways, tokens
        self.stop_at = None
        self.paused = threading.Event()
        self.sent = self.refused = 0
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, args=(n,), daemon=True)
                        for n in range(LOAD_THREADS)]

    def run(self, n):
        conns = {port: http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                 for port in self.gateways}
        i = n
        while not self.stop_at.is_set():
            if self.paused.is_set():
                time.sleep(0.01)
                continue
            port = self.gateways[i % len(self.gateways)]
            token = self.tokens[i % len(self.tokens)]
            i += 1
            conn = conns[port]
            try:
                conn.request("GET", "/protected", headers={"authorization": f"Bearer {token}"})
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                conn.close()
                status = 0
            with self.lock:
                self.sent += 1
                if status != 200 and not self.paused.is_set():
                    self.refused += 1
                    print(f"bystander refused: {status} on {port}", file=sys.stderr)

    def start(self):
        self.stop_at = threading.Event()
        for thread in self.threads:
            thread.start()

    def stop(self):
        self.stop_at.set()
        for thread in self.threads:
            thread.join(timeout=15)


def time_refusal(gateways, token, started, bound):
    """Seconds from `started` until each gateway refuses `token`."""
    delays = {}
    while len(delays) < len(gateways):
        for port in gateways:
            if port not in delays and protected(port, token) != 200:
                delays[port] = time.monotonic() - started
        if time.monotonic() - started > bound:
            missing = [p for p in gateways if p not in delays]
            raise RuntimeError(f"gateways {missing} still accept a revoked token after {bound} s")
        time.sleep(POLL_S)
    return [delays[p] for p in gateways]


def lag_figures(stack):
    lags = []
    for port in stack.gateway_admin:
        status, body = call(port, "GET", "/metrics")
        text = body.decode()
        lag = next((line.split()[-1] for line in text.splitlines()
                    if line.startswith("gateway_revocation_lag_seconds ")), "?")
        lags.append(lag)
    return lags


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--profile", default="release", choices=["release", "debug"])
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--bound", type=float, default=10.0,
                        help="seconds after which a still-accepted revoked token fails the run")
    args = parser.parse_args()
    target = os.path.abspath(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")))
    workdir = tempfile.mkdtemp(prefix="revocation-bench-")
    stack = Stack(os.path.join(target, args.profile), workdir, database(workdir))
    load = None
    try:
        stack.up()
        gateways = stack.gateways
        users = [f"bench-user-{n}" for n in range(max(2, args.rounds // 3) + 1)]
        for user in users + ["bystander-1", "bystander-2"]:
            status, body = call(gateways[0], "POST", "/register",
                                {"username": user, "password": PASSWORD})
            if status not in (201, 409):
                raise RuntimeError(f"register {user}: {status} {body[:200]}")
        bystanders = [login(gateways[n % 3], f"bystander-{n % 2 + 1}")["token"] for n in range(4)]
        load = Load(gateways, bystanders)
        load.start()
        delays, kinds = [], {}
        for n in range(args.rounds):
            last = n == args.rounds - 1
            kind = "key" if last and args.rounds > 1 else ["logout", "sessions revoke", "set-password"][n % 3]
            user = users[n % len(users)]
            password = PASSWORD if kind != "set-password" else f"{PASSWORD}-{n}"
            tokens = login(gateways[n % 3], user)
            token = tokens["token"]
            for port in gateways:
                if protected(port, token) != 200:
                    raise RuntimeError(f"a fresh token was refused on {port}")
            if kind == "key":
                load.paused.set()
                header = json.loads(__import__("base64").urlsafe_b64decode(token.split(".")[0] + "=="))
                started = time.monotonic()
                stack.cli("keys", "revoke", header["kid"])
            elif kind == "logout":
                started = time.monotonic()
                status, _ = call(gateways[(n + 1) % 3], "POST", "/logout",
                                 {"refresh_token": tokens["refresh_token"]})
                assert status == 200, status
            elif kind == "sessions revoke":
                started = time.monotonic()
                stack.cli("sessions", "revoke", user)
            else:
                started = time.monotonic()
                stack.cli("users", "set-password", user, stdin=password + "\n")
            round_delays = time_refusal(gateways, token, started, args.bound)
            delays.extend(round_delays)
            kinds.setdefault(kind, []).extend(round_delays)
            if kind == "set-password":
                stack.cli("users", "set-password", user, stdin=PASSWORD + "\n")
        if load.paused.is_set():
            # Bystanders signed by the withdrawn key: new tokens, then the load resumes.
            load.tokens[:] = [login(gateways[n % 3], f"bystander-{n % 2 + 1}")["token"]
                              for n in range(4)]
            load.paused.clear()
            time.sleep(1)
        load.stop()
        lags = lag_figures(stack)
        print(f"revocation delay over {args.rounds} revocations x {len(gateways)} gateways "
              f"(2 auth-service instances on PostgreSQL, {LOAD_THREADS} bystander clients):")
        print(f"  p50 {statistics.median(delays) * 1000:.0f} ms, p99 {percentile(delays, 99) * 1000:.0f} ms, "
              f"max {max(delays) * 1000:.0f} ms")
        for kind, values in kinds.items():
            print(f"  {kind}: {len(values)} refusals, p50 {statistics.median(values) * 1000:.0f} ms, "
                  f"max {max(values) * 1000:.0f} ms")
        print(f"  bystander requests: {load.sent}, wrongly refused: {load.refused}")
        print(f"  gateway_revocation_lag_seconds at the end: {', '.join(lags)}")
        if load.refused:
            sys.exit("FAILED: bystander requests were refused")
    except Exception as error:  # noqa: BLE001 - reported with the logs' place
        print(f"FAILED: {error} (logs in {workdir})", file=sys.stderr)
        sys.exit(1)
    finally:
        if load and load.stop_at is not None:
            load.stop()
        stack.stop()


if __name__ == "__main__":
    main()
