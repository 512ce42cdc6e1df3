"""The three real binaries on loopback, for the attack suite, and the normal client that
must keep being served while an attack runs.

Every service gets free ports of its own, a temporary working directory (the
auth-service's SQLite file lives there), the local profile and the short deadlines given
by the caller, so that a case that waits for a timeout waits seconds, not minutes.
"""

import http.client
import json
import os
import socket
import subprocess
import tempfile
import threading
import time

# Start-up budget: 200 tries of 0.05 s.
READY_TRIES = 200


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(port, method, path, body=None, headers=None, timeout=5.0):
    """One request on a fresh connection: (status, headers as a dict of lower-case
    names, body as text)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        hdrs = dict(headers or {})
        payload = None
        if body is not None:
            payload = body if isinstance(body, (bytes, str)) else json.dumps(body)
            hdrs.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=payload, headers=hdrs)
        res = conn.getresponse()
        text = res.read().decode("utf-8", "replace")
        return res.status, {k.lower(): v for k, v in res.getheaders()}, text
    finally:
        conn.close()


class Stack:
    """The auth-service, the resource-service and the gateway, started from `bin_dir`."""

    def __init__(self, bin_dir, env=None, name="stack"):
        self.bin_dir = bin_dir
        self.extra_env = dict(env or {})
        self.name = name
        self.workdir = tempfile.mkdtemp(prefix="attack-")
        self.auth_port = free_port()
        self.resource_port = free_port()
        self.port = free_port()
        self.admin_port = free_port()
        self.auth_admin_port = free_port()
        self.procs = []
        self.logs = []

    def _env(self):
        auth = f"http://127.0.0.1:{self.auth_port}"
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "RUST_LOG": "info",
            "AUTH__APPLICATION__PORT": str(self.auth_port),
            "AUTH__ADMIN__PORT": str(self.auth_admin_port),
            "RESOURCE__APPLICATION__PORT": str(self.resource_port),
            "GATEWAY__APPLICATION__PORT": str(self.port),
            "GATEWAY__ADMIN__PORT": str(self.admin_port),
            "GATEWAY__UPSTREAMS__AUTH__URL": auth,
            "GATEWAY__UPSTREAMS__RESOURCE__URL": f"http://127.0.0.1:{self.resource_port}",
            "GATEWAY__JWT__JWKS_URL": f"{auth}/.well-known/jwks.json",
            "GATEWAY__REVOCATIONS__URL": f"http://127.0.0.1:{self.auth_admin_port}/revocations",
        }
        env.update(self.extra_env)
        return env

    def start(self):
        env = self._env()
        for service in ("auth-service", "resource-service", "gateway"):
            log = open(os.path.join(self.workdir, f"{service}.log"), "wb")
            self.logs.append(log)
            self.procs.append(
                subprocess.Popen(
                    [os.path.join(self.bin_dir, service)],
                    cwd=self.workdir,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        for port in (self.auth_port, self.resource_port, self.port):
            for _ in range(READY_TRIES):
                try:
                    if request(port, "GET", "/health/ready", timeout=1)[0] == 200:
                        break
                except OSError:
                    pass
                time.sleep(0.05)
            else:
                self.stop()
                raise RuntimeError(f"{self.name}: nothing ready on port {port}; logs in {self.workdir}")
        # Each service ready alone is not yet the chain: wait until the gateway proxies to
        # the auth-service (a public route), so that a case's first request is its own.
        for _ in range(READY_TRIES):
            try:
                if request(self.port, "GET", "/.well-known/jwks.json", timeout=1)[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.05)
        else:
            self.stop()
            raise RuntimeError(f"{self.name}: the gateway does not reach the auth-service; logs in {self.workdir}")
        return self

    def stop(self):
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
        for log in self.logs:
            log.close()
        self.procs = []

    def log_text(self):
        text = ""
        for service in ("auth-service", "resource-service", "gateway"):
            path = os.path.join(self.workdir, f"{service}.log")
            if os.path.exists(path):
                with open(path, encoding="utf-8", errors="replace") as f:
                    text += f.read()
        return text

    def login(self, username, password):
        return request(self.port, "POST", "/login", {"username": username, "password": password})

    def register(self, username, password):
        return request(self.port, "POST", "/register", {"username": username, "password": password})


class NormalClient:
    """A well-behaved user beside an attack: its own account, a keep-alive connection,
    `GET /` and `GET /protected` in turn, every answer checked word for word. Bounded: it
    stops when told, after `max_requests`, or after `max_seconds`."""

    def __init__(self, stack, username, max_requests=2000, max_seconds=60):
        self.stack = stack
        self.username = username
        self.max_requests = max_requests
        self.max_seconds = max_seconds
        self.ok = 0
        self.failures = []
        self._stop = threading.Event()
        self._thread = None
        self.token = None

    def prepare(self, password="a-normal-users-password"):
        status, _, body = self.stack.register(self.username, password)
        if status not in (200, 201, 409):
            raise RuntimeError(f"registering {self.username}: {status} {body}")
        status, _, body = self.stack.login(self.username, password)
        if status != 200:
            raise RuntimeError(f"logging in {self.username}: {status} {body}")
        self.token = json.loads(body)["token"]
        return self

    def _run(self):
        deadline = time.monotonic() + self.max_seconds
        conn = None
        expected = {
            "/": (200, {"message": "Welcome to the Flask JWT API!"}),
            "/protected": (
                200,
                {"message": "This is a protected route!", "user": self.username, "roles": []},
            ),
        }
        n = 0
        while not self._stop.is_set() and n < self.max_requests and time.monotonic() < deadline:
            path = "/" if n % 2 == 0 else "/protected"
            n += 1
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.stack.port, timeout=5)
                conn.request("GET", path, headers={"x-access-token": self.token})
                res = conn.getresponse()
                body = res.read()
                got = (res.status, json.loads(body))
                if got != expected[path]:
                    self.failures.append(f"{path}: {got}")
            except Exception as e:  # a refused, reset or timed-out request is a failure
                self.failures.append(f"{path}: {type(e).__name__}: {e}")
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.05)
                continue
            self.ok += 1
            time.sleep(0.01)
        if conn is not None:
            conn.close()

    def __enter__(self):
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=10)
        return False

    def verdict(self):
        """None when the client was served throughout, else what went wrong."""
        if self.failures:
            return f"normal client: {len(self.failures)} failure(s), first: {self.failures[0]}"
        if self.ok == 0:
            return "normal client: no request completed"
        return None
