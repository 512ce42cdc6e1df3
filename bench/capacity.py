#!/usr/bin/env python3
"""Capacity figures for running replicas: how many requests/s one core of each service
serves, from the CPU each process spends per request, with the whole stack replicated.

Starts on loopback, on ports from --base-port up (28000 by default): one auth-service
(SQLite in a temporary folder, or PostgreSQL with --postgres), three resource-service
instances and two gateways, one worker thread each for the gateways and resource-services
(the auth-service keeps its default: one worker and one password-hashing thread per core).
Each gateway's upstream `resource` lists the three resource-service instances; requests
take turns over them.

1. Distinct tokens: --tokens (10,000) valid tokens for user1, minted by `auth-service tokens
   mint`, sent in rotation by wrk with the requests prebuilt in the Lua script's init
   (bench/run.py's ROTATING_LUA): one wrk per gateway, both at once, `-t1 -c<connections>`
   each, after a warm-up of both. More tokens than a gateway's verified-token cache holds
   by default (about 8,000), so part of them are verified again on every pass.
2. Logins: --login-clients (8) clients, half on each gateway (one wrk per gateway), doing
   correct logins of user1 (POST /login through the gateways, which have no rate limit on
   it in the local profile; correct passwords never count against the auth-service's
   login limits, and the run checks that every login succeeded).

CPU per request is each process's user and system time (/proc/<pid>/stat, all threads)
over the measured run, divided by the requests wrk counted: for a gateway the requests
sent to it, for the resource-services together all requests (each instance's own figure
assumes it had a third of them, as requests take turns). Requests/s per core is 1e6
divided by that; per replica, times the CPU budget of a replica (--budget-cores, 1).

Prints a summary. With --write: writes docs/CAPACITY.md (this script's page; bench/run.py
rewrites docs/BENCHMARKS.md as a whole, so the capacity figures live beside it) and adds a
dated entry to the "Capacity" section of bench/notes.md, and of docs/BENCHMARKS.md, whose
end is bench/notes.md as bench/run.py appends it.

Usage: bench/capacity.py [--bin-dir DIR] [--duration 20] [--connections 32] [--tokens 10000]
                         [--login-clients 8] [--login-duration 15] [--postgres] [--write]
The binaries come from --bin-dir (default ${CARGO_TARGET_DIR:-target}/release); build them
first. Needs wrk.
"""

import argparse
import ctypes
import datetime
import os
import platform
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import revocation  # noqa: E402  call, wait_ready, database; its main() runs only as a script
import run as bench  # noqa: E402  ROTATING_LUA, cpu_ticks, to_ms; likewise
from harness import metric  # noqa: E402

# Ports other tools of this repository use (the services' defaults and bench/run.py's).
RESERVED_PORTS = {8080, 8081, 8082, 9080, 9081, *range(18080, 18092)}
RESOURCE_REPLICAS = 3
GATEWAY_REPLICAS = 2
TICK_US = 1e6 / os.sysconf("SC_CLK_TCK")
LOGIN_BODY = '{"username":"user1","password":"password123"}'
# Seconds a process gets to stop after SIGTERM before it is killed.
STOP_TIMEOUT_S = 10
# Seconds a wrk run may take beyond its duration (start-up, reading 10,000 tokens).
WRK_GRACE_S = 30
# Newest entries kept in the notes' Capacity section.
NOTES_KEPT = 6


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def _die_with_parent():
    """In the child before exec: SIGTERM when this script dies, however it dies."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class Processes:
    """Every process the run starts (services and wrk), stopped on every way out."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.running = []

    def start(self, name, argv, env=None, capture=False):
        """Starts `argv`; its output goes to <name>.log in the work folder, or with
        `capture` to pipes read by communicate()."""
        if capture:
            process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                       cwd=self.workdir, preexec_fn=_die_with_parent, text=True)
        else:
            with open(os.path.join(self.workdir, f"{name}.log"), "w") as out:
                process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env,
                                           cwd=self.workdir, preexec_fn=_die_with_parent)
        self.running.append(process)
        return process

    def stop_all(self):
        for process in self.running:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.running:
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=STOP_TIMEOUT_S)
        self.running = []


def port_is_free(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def pick_ports(count, base):
    """`count` free loopback ports from `base` up (at most 1,000 tried), never one of
    RESERVED_PORTS."""
    ports = []
    for port in range(base, min(base + 1000, 65536)):
        if port not in RESERVED_PORTS and port_is_free(port):
            ports.append(port)
            if len(ports) == count:
                return ports
    raise RuntimeError(f"fewer than {count} free ports in {base}-{base + 999}")


def machine_ticks():
    """Busy and total clock ticks of the whole machine (all cores) so far."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    total = sum(fields[:8])
    return total - idle, total


def children_cpu_s():
    """CPU seconds of the children reaped so far (here: the wrk runs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def metrics(port):
    status, body = revocation.call(port, "GET", "/metrics", timeout=5)
    if status != 200:
        raise RuntimeError(f"metrics on {port}: {status}")
    return body.decode()


class Stack:
    """One auth-service, RESOURCE_REPLICAS resource-services, GATEWAY_REPLICAS gateways."""

    def __init__(self, args, workdir, procs):
        self.args, self.workdir, self.procs = args, workdir, procs
        ports = pick_ports(2 + RESOURCE_REPLICAS + 2 * GATEWAY_REPLICAS, args.base_port)
        self.auth, self.auth_admin = ports[0], ports[1]
        self.resources = ports[2:2 + RESOURCE_REPLICAS]
        rest = ports[2 + RESOURCE_REPLICAS:]
        self.gateways, self.gateway_admins = rest[:GATEWAY_REPLICAS], rest[GATEWAY_REPLICAS:]
        self.pids = {}
        self.db_url = None

    def env(self, extra):
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "RUST_LOG": "warn",
                "APP_ENVIRONMENT": "local", **extra}

    def binary(self, name):
        return os.path.join(self.args.bin_dir, name)

    def auth_env(self):
        return self.env({"AUTH__APPLICATION__PORT": str(self.auth),
                         "AUTH__ADMIN__PORT": str(self.auth_admin),
                         "AUTH__DATABASE__URL": self.db_url})

    def up(self):
        if self.args.postgres:
            # A database of its own on the test server; the server is left running.
            self.db_url = revocation.database(self.workdir)
        else:
            self.db_url = f"sqlite://{self.workdir}/auth.db?mode=rwc"
        auth = self.procs.start("auth-service", [self.binary("auth-service")], self.auth_env())
        self.pids["auth-service"] = auth.pid
        revocation.wait_ready(self.auth, deadline_s=30)
        for n, port in enumerate(self.resources, 1):
            process = self.procs.start(f"resource-{n}", [self.binary("resource-service")], self.env({
                "RESOURCE__APPLICATION__PORT": str(port), "RESOURCE__APPLICATION__WORKERS": "1"}))
            self.pids[f"resource-service {n}"] = process.pid
        resource_urls = ",".join(f"http://127.0.0.1:{p}" for p in self.resources)
        for n, (port, admin) in enumerate(zip(self.gateways, self.gateway_admins), 1):
            env = self.env({
                "GATEWAY__APPLICATION__PORT": str(port), "GATEWAY__APPLICATION__WORKERS": "1",
                "GATEWAY__ADMIN__PORT": str(admin),
                "GATEWAY__JWT__JWKS_URL": f"http://127.0.0.1:{self.auth}/.well-known/jwks.json",
                "GATEWAY__UPSTREAMS__AUTH__URL": f"http://127.0.0.1:{self.auth}",
                "GATEWAY__UPSTREAMS__RESOURCE__URL": resource_urls,
                "GATEWAY__REVOCATIONS__URL": f"http://127.0.0.1:{self.auth_admin}/revocations"})
            self.gateway_env = env
            process = self.procs.start(f"gateway-{n}", [self.binary("gateway")], env)
            self.pids[f"gateway {n}"] = process.pid
        for port in [*self.resources, *self.gateways]:
            revocation.wait_ready(port, deadline_s=30)

    def cli(self, *argv, stdin=None, stdout=subprocess.PIPE, timeout=300):
        result = subprocess.run([self.binary("auth-service"), *argv], input=stdin, stdout=stdout,
                                stderr=subprocess.PIPE, env=self.auth_env(), cwd=self.workdir,
                                text=True, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"auth-service {' '.join(argv)}: {result.stderr.strip()}")
        return result.stdout

    def check_login_unlimited(self):
        """Fails unless the gateways' /login route has no rate limit (true of the local
        profile; the production one limits it per address)."""
        config = subprocess.run([self.binary("gateway"), "check-config"], env=self.gateway_env,
                                capture_output=True, text=True, timeout=30, cwd=self.workdir).stdout
        found = re.search(r'path: "/login",.*?per_address: "(.*?)",\s*per_subject: "(.*?)"', config, re.S)
        if not found or any(found.groups()):
            raise RuntimeError("the gateways' /login route has a rate limit (or check-config changed)")

    def drop_database(self):
        if self.args.postgres and self.db_url and shutil.which("psql"):
            base, name = self.db_url.rsplit("/", 1)
            subprocess.run(["psql", f"{base}/postgres", "-q", "-c", f"DROP DATABASE IF EXISTS {name}"],
                           capture_output=True, timeout=30)


def mint_tokens(stack, count):
    """`count` distinct valid tokens for user1; returns the wrk script that sends them in
    turn and the tokens' mean length."""
    path = os.path.join(stack.workdir, "tokens.txt")
    with open(path, "w") as out:
        stack.cli("tokens", "mint", "--user", "user1", "--count", str(count), stdout=out)
    with open(path) as f:
        tokens = f.read().split()
    if len(set(tokens)) != count:
        raise RuntimeError(f"minted {len(set(tokens))} distinct tokens, not {count}")
    script = os.path.join(stack.workdir, "rotating.lua")
    with open(script, "w") as f:
        f.write(bench.ROTATING_LUA.replace("TOKENS_FILE", path))
    return script, tokens, sum(map(len, tokens)) / len(tokens)


def login_script(workdir):
    path = os.path.join(workdir, "login.lua")
    with open(path, "w") as f:
        f.write(f'wrk.method = "POST"\nwrk.body = \'{LOGIN_BODY}\'\n'
                'wrk.headers["Content-Type"] = "application/json"\n')
    return path


def parse_wrk(out):
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "requests": requests,
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": bench.to_ms(re.search(r"\s50%\s+(\S+)", out).group(1)),
        "p99": bench.to_ms(re.search(r"\s99%\s+(\S+)", out).group(1)),
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": sum(int(x) for x in socket_errors.groups()) if socket_errors else 0,
    }


def run_wrks(procs, targets, duration, pids, timeout="5s"):
    """One wrk per (port, connections, script, path) in `targets`, all at once, for `duration`
    seconds; returns each one's figures, and the CPU ticks (user, kernel) each process of
    `pids` spent meanwhile, the machine's busy and total ticks, and wrk's CPU seconds."""
    before = {name: bench.cpu_ticks([pid]) for name, pid in pids.items()}
    machine_before, wrk_before = machine_ticks(), children_cpu_s()
    started = []
    for n, (port, connections, script, path) in enumerate(targets):
        argv = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", f"--timeout={timeout}",
                "-s", script, f"http://127.0.0.1:{port}{path}"]
        started.append(procs.start(f"wrk-{n}", argv, env=dict(os.environ), capture=True))
    outputs = []
    for process in started:
        out, err = process.communicate(timeout=duration + WRK_GRACE_S)
        if process.returncode != 0:
            raise RuntimeError(f"wrk failed ({process.returncode}): {err.strip()}")
        outputs.append(out)
    after = {name: bench.cpu_ticks([pid]) for name, pid in pids.items()}
    machine_after, wrk_after = machine_ticks(), children_cpu_s()
    cpu = {name: (after[name][0] - before[name][0], after[name][1] - before[name][1]) for name in pids}
    machine = (machine_after[0] - machine_before[0], machine_after[1] - machine_before[1])
    return [parse_wrk(out) for out in outputs], outputs, cpu, machine, wrk_after - wrk_before


def us(ticks, requests):
    return ticks * TICK_US / requests


def token_workload(args, stack, procs, script):
    targets = [(port, args.connections, script, "/protected") for port in stack.gateways]
    log(f"warm-up: {args.warmup} s")
    warm, outs, _, _, _ = run_wrks(procs, targets, args.warmup, {})
    for result, out in zip(warm, outs):
        if result["non2xx"] or result["socket_errors"]:
            raise RuntimeError(f"errors during the warm-up:\n{out}")
    cache_before = [metrics(port) for port in stack.gateway_admins]
    log(f"distinct tokens: {args.duration} s, wrk -t1 -c{args.connections} on each of {len(targets)} gateways")
    results, outs, cpu, machine, wrk_s = run_wrks(procs, targets, args.duration, stack.pids)
    cache_after = [metrics(port) for port in stack.gateway_admins]
    total = sum(r["requests"] for r in results)
    gateways = []
    for n, (result, before, after) in enumerate(zip(results, cache_before, cache_after), 1):
        user, kernel = cpu[f"gateway {n}"]
        hits = (metric(after, "gateway_token_cache_total", '{result="hit"}')
                - metric(before, "gateway_token_cache_total", '{result="hit"}'))
        misses = (metric(after, "gateway_token_cache_total", '{result="miss"}')
                  - metric(before, "gateway_token_cache_total", '{result="miss"}'))
        gateways.append({**result, "user_us": us(user, result["requests"]),
                         "kernel_us": us(kernel, result["requests"]),
                         "hit_ratio": hits / (hits + misses) if hits + misses else float("nan")})
    resources = []
    for n in range(1, RESOURCE_REPLICAS + 1):
        user, kernel = cpu[f"resource-service {n}"]
        share = total / RESOURCE_REPLICAS
        resources.append({"user_us": us(user, share), "kernel_us": us(kernel, share)})
    gw_user = sum(cpu[f"gateway {n}"][0] for n in range(1, GATEWAY_REPLICAS + 1))
    gw_kernel = sum(cpu[f"gateway {n}"][1] for n in range(1, GATEWAY_REPLICAS + 1))
    rs_user = sum(cpu[f"resource-service {n}"][0] for n in range(1, RESOURCE_REPLICAS + 1))
    rs_kernel = sum(cpu[f"resource-service {n}"][1] for n in range(1, RESOURCE_REPLICAS + 1))
    ours = sum(u + k for u, k in cpu.values())
    return {
        "total": total,
        "rps": sum(r["rps"] for r in results),
        "errors": sum(r["non2xx"] + r["socket_errors"] for r in results),
        "outputs": outs,
        "gateways": gateways,
        "resources": resources,
        "gateway": {"user_us": us(gw_user, total), "kernel_us": us(gw_kernel, total)},
        "resource": {"user_us": us(rs_user, total), "kernel_us": us(rs_kernel, total)},
        "auth_us": us(sum(cpu["auth-service"]), total),
        "machine": machine_share(machine, ours, wrk_s),
    }


def machine_share(machine, our_ticks, wrk_s):
    """How the machine's CPU was spent during a run, as fractions of all its cores' time."""
    busy, total = machine
    wrk_ticks = wrk_s * 1e6 / TICK_US
    return {"cores_busy": busy / total * os.cpu_count(),
            "ours": our_ticks / total * os.cpu_count(),
            "wrk": wrk_ticks / total * os.cpu_count(),
            "other": max(0.0, busy - our_ticks - wrk_ticks) / total * os.cpu_count()}


def login_workload(args, stack, procs, script):
    clients = [args.login_clients // GATEWAY_REPLICAS + (1 if n < args.login_clients % GATEWAY_REPLICAS else 0)
               for n in range(GATEWAY_REPLICAS)]
    targets = [(port, c, script, "/login") for port, c in zip(stack.gateways, clients) if c]
    stack.check_login_unlimited()
    status, body = revocation.call(stack.gateways[0], "POST", "/login",
                                   {"username": "user1", "password": "password123"})
    if status != 200:
        raise RuntimeError(f"a login through the gateway: {status} {body[:200]}")
    before = metrics(stack.auth_admin)
    log(f"logins: {args.login_duration} s, {args.login_clients} clients over the gateways")
    results, outs, cpu, machine, wrk_s = run_wrks(procs, targets, args.login_duration, stack.pids,
                                                  timeout="10s")
    after = metrics(stack.auth_admin)
    outcomes = {}
    for line in after.splitlines():
        found = re.match(r'auth_logins_total\{outcome="([a-z_]+)"\} (\S+)', line)
        if found:
            outcomes[found.group(1)] = float(found.group(2)) - metric(
                before, "auth_logins_total", f'{{outcome="{found.group(1)}"}}')
    total = sum(r["requests"] for r in results)
    # Logins still hashing when wrk stopped were done and counted by the auth-service too:
    # its CPU is divided by the logins it counted.
    counted = sum(outcomes.values()) or total
    user, kernel = cpu["auth-service"]
    gw = sum(sum(cpu[f"gateway {n}"]) for n in range(1, GATEWAY_REPLICAS + 1))
    return {
        "clients": args.login_clients,
        "total": total,
        "counted": int(counted),
        "rps": sum(r["rps"] for r in results),
        "p50": max(r["p50"] for r in results),
        "p99": max(r["p99"] for r in results),
        "errors": sum(r["non2xx"] + r["socket_errors"] for r in results),
        "outputs": outs,
        "outcomes": {k: int(v) for k, v in outcomes.items() if v},
        "auth_cpu_ms": (user + kernel) * TICK_US / 1000 / counted,
        "auth_user_ms": user * TICK_US / 1000 / counted,
        "auth_kernel_ms": kernel * TICK_US / 1000 / counted,
        "gateway_us": us(gw, total),
        "machine": machine_share(machine, sum(u + k for u, k in cpu.values()), wrk_s),
    }


def argon2_parameters(stack):
    """The argon2id parameters the auth-service hashes with, from a hash it makes."""
    hashed = stack.cli("hash-password", stdin="capacity-parameters").strip()
    found = re.match(r"\$argon2id\$v=\d+\$m=(\d+),t=(\d+),p=(\d+)\$", hashed)
    if not found:
        raise RuntimeError(f"unexpected hash format: {hashed[:40]}")
    m, t, p = (int(x) for x in found.groups())
    return f"argon2id, m={m} KiB ({m / 1024:.0f} MiB), t={t}, p={p}"


def measure(args, workdir, procs):
    stack = Stack(args, workdir, procs)
    try:
        stack.up()
        script, tokens, token_length = mint_tokens(stack, args.tokens)
        for port in stack.gateways:  # every gateway answers every instance before the clock starts
            for token in tokens[:RESOURCE_REPLICAS * 2]:
                status, body = revocation.call(port, "GET", "/protected",
                                               headers={"x-access-token": token})
                if status != 200:
                    raise RuntimeError(f"gateway on {port}: {status} {body[:200]}")
        distinct = token_workload(args, stack, procs, script)
        logins = login_workload(args, stack, procs, login_script(workdir))
        parameters = argon2_parameters(stack)
        hashing = re.search(r"concurrent_hashes: (\d+)", stack.cli("check-config"))
    finally:
        procs.stop_all()
        stack.drop_database()
    return {"distinct": distinct, "logins": logins, "argon2": parameters,
            "token_length": token_length,
            "hashing_threads": int(hashing.group(1)) if hashing and hashing.group(1) != "0" else os.cpu_count()}


def derive(args, results):
    d, lg = results["distinct"], results["logins"]
    gw_us = d["gateway"]["user_us"] + d["gateway"]["kernel_us"]
    rs_us = d["resource"]["user_us"] + d["resource"]["kernel_us"]
    return {
        "gateway_us": gw_us, "resource_us": rs_us,
        "gateway_per_core": 1e6 / gw_us, "resource_per_core": 1e6 / rs_us,
        "gateway_per_replica": args.budget_cores * 1e6 / gw_us,
        "resource_per_replica": args.budget_cores * 1e6 / rs_us,
        "logins_per_core": 1000 / lg["auth_cpu_ms"],
        "logins_per_replica": args.budget_cores * 1000 / lg["auth_cpu_ms"],
    }


def command_line(args):
    parts = ["python3 bench/capacity.py"]
    defaults = {"duration": 20, "warmup": 3, "connections": 32, "tokens": 10000, "login_clients": 8,
                "login_duration": 15, "budget_cores": 1.0}
    for key, default in defaults.items():
        if getattr(args, key) != default:
            parts.append(f"--{key.replace('_', '-')} {getattr(args, key):g}")
    if args.postgres:
        parts.append("--postgres")
    return " ".join(parts)


def machine_line():
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()
    wrk = wrk[0].split(" Copyright")[0] if wrk else "wrk"
    return f"{cpu}, {os.cpu_count()} cores, Linux {platform.release()}; {wrk}"


def shared_note(machine):
    return (f"{machine['cores_busy']:.2f} of {os.cpu_count()} cores busy: the stack "
            f"{machine['ours']:.2f}, wrk {machine['wrk']:.2f}, other processes {machine['other']:.2f}")


def render(args, results, figures, when):
    d, lg = results["distinct"], results["logins"]
    database = "PostgreSQL" if args.postgres else "SQLite"
    lines = [
        "# Capacity",
        "",
        f"Made by `{command_line(args)}` (this page is its output) on {when}; rerun it to refresh",
        "every number. Dated entries of past runs are in the \"Capacity\" section of",
        "[BENCHMARKS.md](BENCHMARKS.md); README \"Scaling\" turns these figures into replica counts.",
        "",
        f"Machine: {machine_line()}.",
        f"Everything on loopback: one auth-service ({database}), {RESOURCE_REPLICAS} resource-service "
        f"instances and {GATEWAY_REPLICAS} gateways,",
        f"each gateway's `resource` upstream listing the {RESOURCE_REPLICAS} instances; gateways and "
        "resource-services on one worker",
        "thread each, the auth-service on its defaults. The load generator shares the machine, so",
        "requests/s here are what this machine gave the whole stack; CPU per request is the figure",
        "that carries over, and requests/s per core are derived from it.",
        "",
        "## Distinct tokens",
        "",
        f"{args.tokens:,} distinct valid tokens for user1 (`auth-service tokens mint`, {results['token_length']:.0f} "
        "bytes each), sent in",
        f"rotation with the requests prebuilt in the wrk script's init: one `wrk -t1 -c{args.connections} "
        f"-d{args.duration}s` per gateway,",
        f"both at once ({args.connections * GATEWAY_REPLICAS} connections in all), after a {args.warmup} s "
        "warm-up of both. Each gateway sees every token;",
        "what its verified-token cache (`jwt.cache_bytes`) has no room for is verified again (the hits column).",
        "",
        "| | requests | requests/s | p50 | p99 | non-2xx, socket errors | token cache hits | CPU per request: own code + kernel |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n, g in enumerate(d["gateways"], 1):
        lines.append(f"| gateway {n} | {g['requests']:,} | {g['rps']:,.0f} | {g['p50']:.2f} ms | {g['p99']:.2f} ms "
                     f"| {g['non2xx']}, {g['socket_errors']} | {g['hit_ratio'] * 100:.0f}% "
                     f"| {g['user_us']:.1f} + {g['kernel_us']:.1f} µs |")
    for n, r in enumerate(d["resources"], 1):
        lines.append(f"| resource-service {n} | | | | | | | {r['user_us']:.1f} + {r['kernel_us']:.1f} µs "
                     "(a third of the requests) |")
    lines += [
        f"| **gateways** | {d['total']:,} | {d['rps']:,.0f} | | | {d['errors']} | "
        f"| {d['gateway']['user_us']:.1f} + {d['gateway']['kernel_us']:.1f} µs |",
        f"| **resource-services** | | | | | | | {d['resource']['user_us']:.1f} + "
        f"{d['resource']['kernel_us']:.1f} µs |",
        "",
        f"The auth-service, off the request path (keys, revocation stream), spent {d['auth_us']:.2f} µs per request.",
        f"Machine during the run: {shared_note(d['machine'])}.",
        "",
        "## Logins",
        "",
        f"{lg['clients']} clients doing correct logins of user1 (POST /login through the gateways, "
        f"{lg['clients'] // GATEWAY_REPLICAS} on each; no gateway",
        f"rate limit on /login in the local profile; correct passwords never count against the login "
        f"limits) for {args.login_duration} s.",
        f"Passwords: {results['argon2']}; {results['hashing_threads']} hashing threads (one per core).",
        "",
        "| logins (wrk) | logins/s | p50 | p99 | outcomes (auth-service) | auth-service CPU per login: own code + kernel "
        "| gateways' CPU per login |",
        "|---:|---:|---:|---:|---|---:|---:|",
        f"| {lg['total']:,} | {lg['rps']:.1f} | {lg['p50']:.1f} ms | {lg['p99']:.1f} ms | "
        + (", ".join(f"{k} {v:,}" for k, v in sorted(lg["outcomes"].items())) or "none counted")
        + f" | {lg['auth_user_ms']:.1f} + {lg['auth_kernel_ms']:.1f} ms | {lg['gateway_us']:.0f} µs |",
        "",
        "The auth-service's CPU is divided by the logins it counted (those still hashing when wrk",
        "stopped included); the gateways' includes their background work over the run.",
        f"Machine during the run: {shared_note(lg['machine'])}.",
        "",
        "## Per core and per replica",
        "",
        f"Requests/s per core = 1,000,000 / CPU µs per request; per replica at a budget of "
        f"{args.budget_cores:g} core{'s' if args.budget_cores != 1 else ''}.",
        "",
        "| service | CPU per request | per core | per replica |",
        "|---|---:|---:|---:|",
        f"| gateway, distinct tokens | {figures['gateway_us']:.1f} µs | {figures['gateway_per_core']:,.0f} requests/s "
        f"| {figures['gateway_per_replica']:,.0f} requests/s |",
        f"| resource-service | {figures['resource_us']:.1f} µs | {figures['resource_per_core']:,.0f} requests/s "
        f"| {figures['resource_per_replica']:,.0f} requests/s |",
        f"| auth-service, logins | {lg['auth_cpu_ms']:.1f} ms | {figures['logins_per_core']:.1f} logins/s "
        f"| {figures['logins_per_replica']:.1f} logins/s |",
        "",
        "Limits of these figures: on loopback the sending process also does the receiving side's TCP",
        "work, so the split of kernel time between processes differs from separate hosts (their sum",
        "does not much); a replica short of a full core batches fewer requests per wake-up than one",
        "flat out, so CPU per request here is, if anything, on the high side; p99 is that of a",
        "machine whose two cores run every process at once, not of a replica with a core to itself.",
        "The CPU per login is the auth-service's alone: on PostgreSQL, the database's own work for",
        "a login comes on top, on its own host.",
        "",
    ]
    return "\n".join(lines)


def summary(args, results, figures):
    d, lg = results["distinct"], results["logins"]
    worst = max(d["gateways"], key=lambda g: g["p99"])
    return "\n".join([
        f"distinct tokens ({args.tokens:,}, wrk -t1 -c{args.connections} -d{args.duration}s on each of "
        f"{GATEWAY_REPLICAS} gateways at once):",
        f"  {d['total']:,} requests, {d['rps']:,.0f} requests/s, "
        + ", ".join(f"gateway {n} p50 {g['p50']:.2f} ms p99 {g['p99']:.2f} ms" for n, g in enumerate(d["gateways"], 1))
        + f"; non-2xx and socket errors: {d['errors']}",
        "  token cache hits: " + ", ".join(f"{g['hit_ratio'] * 100:.0f}%" for g in d["gateways"]),
        f"  gateway CPU per request {d['gateway']['user_us']:.1f} + {d['gateway']['kernel_us']:.1f} µs "
        f"-> {figures['gateway_per_core']:,.0f} requests/s per core",
        f"  resource-service CPU per request {d['resource']['user_us']:.1f} + {d['resource']['kernel_us']:.1f} µs "
        f"-> {figures['resource_per_core']:,.0f} requests/s per core",
        f"  per replica at {args.budget_cores:g} core: gateway {figures['gateway_per_replica']:,.0f}, "
        f"resource-service {figures['resource_per_replica']:,.0f} requests/s",
        f"  machine: {shared_note(d['machine'])}",
        f"logins ({lg['clients']} clients through the gateways, {args.login_duration} s; {results['argon2']}):",
        f"  {lg['total']:,} logins, {lg['rps']:.1f}/s, p50 {lg['p50']:.1f} ms, p99 {lg['p99']:.1f} ms, "
        f"outcomes {lg['outcomes']}, errors {lg['errors']}",
        f"  auth-service CPU per login {lg['auth_cpu_ms']:.1f} ms -> {figures['logins_per_core']:.1f} logins/s per core",
        f"  machine: {shared_note(lg['machine'])}",
        f"worst p99 {worst['p99']:.2f} ms",
    ])


def notes_entry(args, results, figures, when):
    d, lg = results["distinct"], results["logins"]
    other = max(d["machine"]["other"], lg["machine"]["other"])
    shared = (f"machine shared: other processes used up to {other:.2f} of its {os.cpu_count()} cores"
              if other >= 0.1 else "machine otherwise idle")
    p = ", ".join(f"{g['p50']:.2f}/{g['p99']:.2f} ms" for g in d["gateways"])
    return (f"- {when}, `{command_line(args)}` ({shared}): {d['total']:,} requests with "
            f"{args.tokens:,} distinct tokens at {d['rps']:,.0f}/s over two gateways, p50/p99 {p}, "
            f"{d['errors']} errors; gateway {d['gateway']['user_us']:.1f} + {d['gateway']['kernel_us']:.1f} µs "
            f"per request ({figures['gateway_per_core']:,.0f}/s per core), resource-service "
            f"{d['resource']['user_us']:.1f} + {d['resource']['kernel_us']:.1f} µs "
            f"({figures['resource_per_core']:,.0f}/s per core); {lg['counted']:,} logins by {lg['clients']} clients "
            f"at {lg['rps']:.1f}/s, {lg['auth_cpu_ms']:.1f} ms of auth-service CPU each "
            f"({figures['logins_per_core']:.1f}/s per core).")


NOTES_HEAD = """## Capacity

`bench/capacity.py` runs the stack with replicas on loopback (one auth-service, three
resource-service instances, two gateways, one worker each for the last two) and derives
requests/s per core of each service from the CPU each process spends per request, with
distinct tokens in rotation (10,000 by default), and logins/s per auth-service core under
concurrent logins (eight clients by default). Its last run's page is
[docs/CAPACITY.md](/docs/CAPACITY.md); README "Scaling" turns the figures into replica
counts. Runs, newest last:
"""


def with_capacity_section(text, entry):
    """`text` with its "## Capacity" section holding NOTES_HEAD, the entries it had (the
    newest NOTES_KEPT - 1) and `entry`; the section stays where it is, or is added last."""
    start = text.find("\n## Capacity\n")
    entries, after = [], ""
    if start >= 0:
        rest = text[start + 1:]
        end = rest.find("\n## ", 1)
        if end >= 0:
            rest, after = rest[:end], rest[end + 1:]
        for line in rest.splitlines():
            if line.startswith("- "):
                entries.append(line)
            elif line.startswith("  ") and entries:
                entries[-1] += "\n" + line
        text = text[:start]
    entries = (entries + [entry])[-NOTES_KEPT:]
    section = NOTES_HEAD + "\n" + "\n".join(entries) + "\n"
    return text.rstrip() + "\n\n" + section + ("\n" + after.rstrip() + "\n" if after else "")


def wrap(text, width=92):
    """A list item wrapped as the notes are, continuation lines indented by two."""
    words, lines, line = text.split(" "), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = "  " + word
        else:
            line = f"{line} {word}" if line else word
    return "\n".join(lines + [line])


def write(args, page, entry):
    with open(os.path.join(ROOT, "docs", "CAPACITY.md"), "w") as f:
        f.write(page)
    notes_path = os.path.join(ROOT, "bench", "notes.md")
    with open(notes_path) as f:
        notes = f.read()
    new_notes = with_capacity_section(notes, wrap(entry))
    benchmarks_path = os.path.join(ROOT, "docs", "BENCHMARKS.md")
    with open(benchmarks_path) as f:
        benchmarks = f.read()
    # bench/run.py ends the page with the notes; keep that end the same as the notes.
    if benchmarks.rstrip().endswith(notes.rstrip()):
        benchmarks = benchmarks.rstrip()[:-len(notes.rstrip())] + new_notes
    else:
        log("docs/BENCHMARKS.md does not end with bench/notes.md; its Capacity section updated alone")
        benchmarks = with_capacity_section(benchmarks, wrap(entry))
    with open(notes_path, "w") as f:
        f.write(new_notes)
    with open(benchmarks_path, "w") as f:
        f.write(benchmarks)
    log("wrote docs/CAPACITY.md, bench/notes.md and docs/BENCHMARKS.md")


def main():
    default_bin = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin-dir", default=default_bin, help="folder of the release binaries")
    parser.add_argument("--duration", type=int, default=20, help="seconds of the distinct-token run")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of warm-up before it")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections per gateway")
    parser.add_argument("--tokens", type=int, default=10000)
    parser.add_argument("--login-clients", type=int, default=8)
    parser.add_argument("--login-duration", type=int, default=15)
    parser.add_argument("--budget-cores", type=float, default=1.0, help="CPU budget of one replica")
    parser.add_argument("--base-port", type=int, default=28000)
    parser.add_argument("--postgres", action="store_true",
                        help="the auth-service on PostgreSQL (scripts/postgres-for-tests.sh) instead of SQLite")
    parser.add_argument("--write", action="store_true",
                        help="write docs/CAPACITY.md and a dated entry in bench/notes.md and docs/BENCHMARKS.md")
    args = parser.parse_args()
    for name in ("auth-service", "gateway", "resource-service"):
        if not os.access(os.path.join(args.bin_dir, name), os.X_OK):
            sys.exit(f"no {name} in {args.bin_dir}: build the release binaries or pass --bin-dir")
    if not shutil.which("wrk"):
        sys.exit("missing wrk (Debian package wrk)")
    for name, value, low, high in (("--duration", args.duration, 1, 600), ("--warmup", args.warmup, 1, 60),
                                   ("--connections", args.connections, 1, 1000),
                                   ("--tokens", args.tokens, 1, 1_000_000),
                                   ("--login-clients", args.login_clients, 1, 32),
                                   ("--login-duration", args.login_duration, 1, 600)):
        if not low <= value <= high:
            sys.exit(f"{name} must be between {low} and {high}")
    args.bin_dir = os.path.abspath(args.bin_dir)

    # SIGTERM and SIGHUP end the run as Ctrl-C does, through the clean-up below.
    for number in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, lambda signum, frame: sys.exit(128 + signum))
    workdir = tempfile.mkdtemp(prefix="capacity-bench-")
    procs = Processes(workdir)
    try:
        results = measure(args, workdir, procs)
    except BaseException as error:
        procs.stop_all()
        log(f"FAILED: {error!r}; process logs kept in {workdir}")
        raise SystemExit(1)
    procs.stop_all()
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    figures = derive(args, results)
    print(summary(args, results, figures))
    failed = results["distinct"]["errors"] or results["logins"]["errors"] or set(
        results["logins"]["outcomes"]) - {"success"}
    if failed:
        log(f"FAILED: not every request succeeded; logs kept in {workdir}")
        for out in results["distinct"]["outputs"] + results["logins"]["outputs"]:
            log(out)
        sys.exit(1)
    if args.write:
        write(args, render(args, results, figures, when), notes_entry(args, results, figures, when))
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
