"""The benchmarks' shared machinery: the ports, the processes a run starts (and stops
whatever happens), the proxies' configurations, the tokens, and one wrk run with the CPU its
target spent per request. Used by bench/run.py, bench/instructions.py, bench/capacity.py and
bench/revocation.py."""

import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
PORTS = {
    "upstream": 18080, "auth": 18081, "nginx": 18082, "haproxy-jwt": 18083,
    "gateway": 18084, "gateway-nocache": 18085, "resource": 18086, "stack": 18087,
    "nginx-tls": 18088, "haproxy-tls": 18089, "gateway-tls": 18090, "auth-admin": 18091,
    "nginx-logs": 18092, "haproxy-logs": 18093, "gateway-logs": 18094, "haproxy-rs256": 18095,
    "gateway-rs256": 18096, "gateway-rs256-admin": 18097,
}
# The connections of the many-connections scenario.
MANY_CONNECTIONS = 1000
# The `iss` and `aud` of the RS256 tokens, and the key id of their JWKS.
RS256_ISSUER = "https://idp.bench.example"
RS256_AUDIENCE = "api"
# Requests per TLS connection in the reconnecting runs.
REQUESTS_PER_CONNECTION = 100
HS256_SECRET = "bench-only-secret-bench-only-secret-0123456789"
# How long a started process gets to answer its readiness check.
READY_TIMEOUT_S = 20.0
UPSTREAM_BODY = '{"message":"This is a protected route!","user":"user1"}'


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def ensure_tools():
    missing = [tool for tool in ("nginx", "haproxy", "wrk") if not shutil.which(tool)]
    if not missing:
        return
    if os.geteuid() != 0:
        sys.exit(f"missing {missing}: install Debian's nginx-light, haproxy and wrk")
    packages = {"nginx": "nginx-light", "haproxy": "haproxy", "wrk": "wrk"}
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", *[packages[m] for m in missing]],
                   check=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


def build():
    log("building release binaries...")
    subprocess.run(["cargo", "build", "--release", "--locked", "-p", "auth-service",
                    "-p", "resource-service", "-p", "gateway"], cwd=ROOT, check=True)


def wait_ready(url, timeout=READY_TIMEOUT_S, headers=None):
    """Polls `url` until it answers 200; returns the seconds it took. An https URL is
    not verified (the run's certificate is self-signed)."""
    import ssl
    context = ssl._create_unverified_context() if url.startswith("https") else None
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            request = urllib.request.Request(url, headers=headers or {})
            with urllib.request.urlopen(request, timeout=1, context=context) as response:
                if response.status == 200:
                    return time.monotonic() - started
        except OSError:
            pass
        time.sleep(0.002)
    raise RuntimeError(f"{url} not ready after {timeout}s")


class Processes:
    """Every process the run starts, stopped at the end whatever happens."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.running = []

    def start(self, name, argv, env=None):
        out = open(os.path.join(self.workdir, f"{name}.log"), "w")
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                   env={**os.environ, **(env or {})}, cwd=self.workdir)
        self.running.append(process)
        return process

    def stop_all(self):
        for process in self.running:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.running:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def to_ms(text):
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def cpu_ticks(pids):
    """User and kernel clock ticks the processes (all their threads) have used so far."""
    user = kernel = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        user, kernel = user + int(fields[11]), kernel + int(fields[12])
    return user, kernel


def worker_pids(master):
    """nginx's worker processes: the children of the master we started."""
    with open(f"/proc/{master}/task/{master}/children") as f:
        return [int(pid) for pid in f.read().split()]


def run_wrk(port, token, args, script=None, pids=(), scheme="http", connections=None):
    """One wrk run; with `pids`, also the CPU those processes spent per request, split into
    their own code (user) and the kernel's work for them (system calls, TCP)."""
    before = cpu_ticks(pids)
    argv = ["wrk", "-t1", f"-c{connections or args.connections}", f"-d{args.duration}s", "--latency",
            "-H", f"x-access-token: {token}", f"{scheme}://127.0.0.1:{port}/protected"]
    if script:
        argv[1:1] = ["-s", script]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    after = cpu_ticks(pids)
    if "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"errors under load on port {port}:\n{out}")
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    tick_us = 1e6 / os.sysconf("SC_CLK_TCK")
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": to_ms(re.search(r"\s50%\s+(\S+)", out).group(1)),
        "p99": to_ms(re.search(r"\s99%\s+(\S+)", out).group(1)),
        "user_us": (after[0] - before[0]) * tick_us / requests,
        "kernel_us": (after[1] - before[1]) * tick_us / requests,
    }


def rss_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def start_service(procs, name, binary, env, port, scheme="http"):
    """Starts one of our services; returns (process, seconds to ready, idle RSS KiB)."""
    process = procs.start(name, [os.path.join(TARGET, "release", binary)], env)
    ready = wait_ready(f"{scheme}://127.0.0.1:{port}/health/ready")
    time.sleep(1.0)
    return process, ready, rss_kib(process.pid, "VmRSS")


def argon2_ms():
    """The median time of one argon2id verification, from the criterion benchmark."""
    out = subprocess.run(["cargo", "bench", "-p", "auth-service", "--bench", "password", "--",
                          "--warm-up-time", "1", "--measurement-time", "5"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    low, median, high = re.search(r"time:\s+\[(\S+ \S+) (\S+ \S+) (\S+ \S+)\]", out).groups()
    number, unit = median.split()
    return float(number) * {"ns": 1e-6, "µs": 1e-3, "us": 1e-3, "ms": 1.0, "s": 1000.0}[unit]


def machine():
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = {
        "nginx": subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip(),
        "haproxy": subprocess.run(["haproxy", "-v"], capture_output=True, text=True).stdout.splitlines()[0],
        "wrk": subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()[0],
    }
    return cpu, os.cpu_count(), platform.release(), versions


def metric(text, name, labels=""):
    """The value of one sample of an OpenMetrics page, 0 when absent."""
    pattern = re.compile(rf"^{re.escape(name)}{re.escape(labels)} (\S+)", re.M)
    found = pattern.search(text)
    return float(found.group(1)) if found else 0.0


def cache_lookups(admin_port):
    """A gateway's verified-token cache hits and misses so far, from its /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return (metric(text, "gateway_token_cache_total", '{result="hit"}'),
            metric(text, "gateway_token_cache_total", '{result="miss"}'))
