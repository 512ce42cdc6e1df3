#!/usr/bin/env python3
"""Benchmarks the gateway beside the proxies users would deploy instead, on this machine,
in one run, and writes docs/BENCHMARKS.md.

Contenders, all on loopback, each proxy on one worker thread, all in front of the same
upstream (nginx answering a small JSON body):
  direct         wrk -> upstream
  nginx          nginx as a plain reverse proxy (checks nothing)
  haproxy-jwt    HAProxy 2.6 checking an HS256 token (jwt_verify, exp) and proxying
  gateway        our gateway checking an EdDSA token against the JWKS (verified-token cache on)
  gateway-nocache  the same with the cache off: a signature check on every request
  gateway-rotating the cached gateway again, with 50,000 distinct valid tokens in rotation
                 (minted by `auth-service tokens mint`): more than its cache holds, so it
                 evicts and verifies; requests are prebuilt in the wrk script's init
  stack          our gateway in front of our resource-service (identity signed and checked)

Access logs on everywhere: nginx writing its access log to a file through a buffer
(`buffer=32k flush=1s`), HAProxy logging each request (`option httplog`) to its standard
output, redirected to a file, and the gateway at its production settings (`info`, JSON),
its standard output to a file:
  nginx-logs, haproxy-logs, gateway-logs

Many users: 50,000 distinct RS256 tokens in rotation (signed here with an RSA key made for
the run; HAProxy has no EdDSA), HAProxy verifying every one with the public key, the gateway
as a provider whose JWKS holds that key (its cache on, and evicting: 50,000 is more than
it holds); the gateway's own EdDSA with the same count is gateway-rotating above:
  haproxy-rs256, gateway-rs256

Many connections: 1,000 concurrent keep-alive connections (under the gateway's default
cap of 10,000), the single token each proxy checks:
  nginx-1000, haproxy-1000, gateway-1000

TLS at the edge: clients speak HTTPS to nginx and HAProxy (OpenSSL) and to the gateway
(rustls), with a P-256 certificate made for the run, the proxies behind as above:
  nginx-tls, haproxy-tls, gateway-tls            keep-alive connections
  nginx-tls-new, haproxy-tls-new, gateway-tls-new  a new TLS connection every 100 requests
                                                   (`Connection: close` from the wrk script)

Load: wrk, same threads, connections and duration for every contender, contenders
alternated round by round; the median round is reported. Also: RSS idle and at peak, and
time from start to ready, for each service.

Usage: bench/run.py [--duration 10] [--rounds 5] [--connections 32] [--tokens 50000] [--no-write]
Needs: nginx, haproxy, wrk (Debian packages; installed when missing and run as root).
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rsa_tokens  # noqa: E402  (beside this file)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
PORTS = {
    "upstream": 18080, "auth": 18081, "nginx": 18082, "haproxy-jwt": 18083,
    "gateway": 18084, "gateway-nocache": 18085, "resource": 18086, "stack": 18087,
    "nginx-tls": 18088, "haproxy-tls": 18089, "gateway-tls": 18090, "auth-admin": 18091,
    "nginx-logs": 18092, "haproxy-logs": 18093, "gateway-logs": 18094, "haproxy-rs256": 18095,
    "gateway-rs256": 18096,
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


def nginx_config(workdir, name, server_block):
    path = os.path.join(workdir, f"{name}.conf")
    temp = os.path.join(workdir, f"{name}-temp")
    os.makedirs(temp, exist_ok=True)
    with open(path, "w") as f:
        f.write(f"""
worker_processes 1;
daemon off;
pid {workdir}/{name}.pid;
error_log {workdir}/{name}.err warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {temp}; proxy_temp_path {temp}; fastcgi_temp_path {temp};
    uwsgi_temp_path {temp}; scgi_temp_path {temp};
    {server_block}
}}
""")
    return path


def haproxy_checks(alg, key):
    """HAProxy's token check: present, of algorithm `alg`, signed (`key`: the HMAC secret or
    a public key file), not expired."""
    return f"""
    http-request deny deny_status 403 unless {{ req.hdr(x-access-token) -m found }}
    http-request set-var(txn.bearer) req.hdr(x-access-token)
    http-request set-var(txn.alg) var(txn.bearer),jwt_header_query('$.alg')
    http-request deny deny_status 403 unless {{ var(txn.alg) -m str {alg} }}
    http-request deny deny_status 403 unless {{ var(txn.bearer),jwt_verify(txn.alg,"{key}") -m int 1 }}
    http-request set-var(txn.now) date()
    http-request set-var(txn.exp) var(txn.bearer),jwt_payload_query('$.exp','int')
    http-request deny deny_status 403 if {{ var(txn.exp),sub(txn.now) -m int lt 0 }}
    default_backend be"""


def haproxy_config(workdir, pem, public_key):
    path = os.path.join(workdir, "haproxy.cfg")
    hs256 = haproxy_checks("HS256", HS256_SECRET)
    with open(path, "w") as f:
        f.write(f"""
global
    nbthread 1
    maxconn 4000
    tune.ssl.default-dh-param 2048
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    option http-keep-alive
frontend fe
    bind 127.0.0.1:{PORTS['haproxy-jwt']}
    bind 127.0.0.1:{PORTS['haproxy-tls']} ssl crt {pem} alpn http/1.1
{hs256}
frontend fe-logs
    bind 127.0.0.1:{PORTS['haproxy-logs']}
    log stdout format raw local0 info
    option httplog
{hs256}
frontend fe-rs256
    bind 127.0.0.1:{PORTS['haproxy-rs256']}
{haproxy_checks("RS256", public_key)}
backend be
    http-reuse always
    server up 127.0.0.1:{PORTS['upstream']}
""")
    return path


def hs256_token():
    def b64(data):
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    now = int(time.time())
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    claims = {"user": "user1", "sub": "bench", "iat": now, "nbf": now, "exp": now + 3600,
              "iss": "http://localhost:8080", "aud": "api", "jti": "bench"}
    payload = b64(json.dumps(claims, separators=(",", ":")).encode())
    signature = hmac.new(HS256_SECRET.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(signature)}"


def gateway_env(port, resource_url, cache_bytes=None):
    return {
        "APP_ENVIRONMENT": "local", "RUST_LOG": "warn",
        "GATEWAY__APPLICATION__PORT": str(port), "GATEWAY__APPLICATION__WORKERS": "1",
        "GATEWAY__ADMIN__PORT": "0",
        "GATEWAY__JWT__JWKS_URL": f"http://127.0.0.1:{PORTS['auth']}/.well-known/jwks.json",
        "GATEWAY__UPSTREAMS__AUTH__URL": f"http://127.0.0.1:{PORTS['auth']}",
        "GATEWAY__UPSTREAMS__RESOURCE__URL": resource_url,
        # Following the revocation stream, as deployed.
        "GATEWAY__REVOCATIONS__URL": f"http://127.0.0.1:{PORTS['auth-admin']}/revocations",
        # None: the configured default (jwt.cache_bytes).
        **({} if cache_bytes is None else {"GATEWAY__JWT__CACHE_BYTES": str(cache_bytes)}),
    }


# Sends the tokens of TOKENS_FILE in turn, one per request. The requests are formatted once,
# in init, so wrk's Lua costs the same per request as a fixed request would.
ROTATING_LUA = """
local requests, count, next_one = {}, 0, 0
function init(args)
  wrk.headers["x-access-token"] = nil
  for token in io.lines("TOKENS_FILE") do
    count = count + 1
    requests[count] = wrk.format("GET", "/protected", { ["x-access-token"] = token })
  end
end
function request()
  next_one = next_one % count + 1
  return requests[next_one]
end
"""


# A new connection every REQUESTS_PER_CONNECTION requests: the last request of each
# connection asks to close it, and wrk opens (and handshakes) a new one.
RECONNECT_LUA = """
local keep, close, sent = nil, nil, 0
function init(args)
  keep = wrk.format()
  local headers = {}
  for name, value in pairs(wrk.headers) do headers[name] = value end
  headers["Connection"] = "close"
  close = wrk.format(nil, nil, headers)
end
function request()
  sent = sent + 1
  if sent % EVERY == 0 then return close end
  return keep
end
"""


def tls_files(workdir):
    """A self-signed P-256 certificate for 127.0.0.1, its key, both in one file for
    HAProxy, and the wrk script that reconnects."""
    cert, key, both = (os.path.join(workdir, n) for n in ("tls.crt", "tls.key", "tls.pem"))
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    with open(both, "w") as out:
        for part in (cert, key):
            with open(part) as f:
                out.write(f.read())
    script = os.path.join(workdir, "reconnect.lua")
    with open(script, "w") as f:
        f.write(RECONNECT_LUA.replace("EVERY", str(REQUESTS_PER_CONNECTION)))
    return cert, key, both, script


def mint_tokens(workdir, env, count):
    """`count` distinct valid tokens for user1, minted by the auth-service's command line
    on its database; returns the wrk script that sends them in turn."""
    path = os.path.join(workdir, "tokens.txt")
    with open(path, "w") as out:
        subprocess.run([os.path.join(TARGET, "release", "auth-service"), "tokens", "mint",
                        "--user", "user1", "--count", str(count)],
                       stdout=out, env={**os.environ, **env}, cwd=workdir, check=True)
    return rotating_script(workdir, "rotating", path)


def rotating_script(workdir, name, tokens_path):
    """The wrk script that sends the tokens of `tokens_path` in turn."""
    script = os.path.join(workdir, f"{name}.lua")
    with open(script, "w") as f:
        f.write(ROTATING_LUA.replace("TOKENS_FILE", tokens_path))
    return script


def rs256_provider(workdir):
    """The gateway's settings file naming the RS256 tokens' issuer as a provider whose JWKS
    the upstream nginx serves."""
    path = os.path.join(workdir, "gateway-rs256.toml")
    with open(path, "w") as f:
        f.write(f"""
[[providers]]
name = "bench-idp"
issuer = "{RS256_ISSUER}"
jwks_url = "http://127.0.0.1:{PORTS['upstream']}/jwks.json"
audiences = ["{RS256_AUDIENCE}"]
algorithms = ["RS256"]
""")
    return path


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


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--tokens", type=int, default=50000)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    ensure_tools()
    build()
    workdir = tempfile.mkdtemp(prefix="jwt-bench-")
    procs = Processes(workdir)
    try:
        results, memory, startup = measure(args, workdir, procs)
    except Exception:
        log(f"failed; process logs kept in {workdir}")
        procs.stop_all()
        raise
    procs.stop_all()
    report = render(args, results, memory, startup)
    print(report)
    if not args.no_write:
        os.makedirs(os.path.join(ROOT, "docs"), exist_ok=True)
        with open(os.path.join(ROOT, "docs", "BENCHMARKS.md"), "w") as f:
            f.write(report)
    shutil.rmtree(workdir, ignore_errors=True)


def start_service(procs, name, binary, env, port, scheme="http"):
    """Starts one of our services; returns (process, seconds to ready, idle RSS KiB)."""
    process = procs.start(name, [os.path.join(TARGET, "release", binary)], env)
    ready = wait_ready(f"{scheme}://127.0.0.1:{port}/health/ready")
    time.sleep(1.0)
    return process, ready, rss_kib(process.pid, "VmRSS")


def measure(args, workdir, procs):
    bin_env = {"RUST_LOG": "warn", "APP_ENVIRONMENT": "local"}
    cert, key, pem, reconnect = tls_files(workdir)
    log(f"RS256: {args.tokens:,} tokens (signed once, kept a day in {TARGET}/bench-rs256)...")
    rsa, rs256_tokens = rsa_tokens.minted(os.path.join(TARGET, "bench-rs256"), args.tokens,
                                          RS256_ISSUER, RS256_AUDIENCE)
    rs256_settings = rs256_provider(workdir)
    upstream = procs.start("upstream", ["nginx", "-c", nginx_config(workdir, "upstream", f"""
        server {{ listen 127.0.0.1:{PORTS['upstream']};
                 location = /jwks.json {{ default_type application/json; return 200 '{json.dumps(rsa.jwks())}'; }}
                 location / {{ default_type application/json; return 200 '{UPSTREAM_BODY}'; }} }}""")])
    proxied = """location / { proxy_pass http://up; proxy_http_version 1.1;
                              proxy_set_header Connection ""; }"""
    nginx = procs.start("nginx", ["nginx", "-c", nginx_config(workdir, "nginx", f"""
        upstream up {{ server 127.0.0.1:{PORTS['upstream']}; keepalive 64; }}
        server {{ listen 127.0.0.1:{PORTS['nginx']};
                 listen 127.0.0.1:{PORTS['nginx-tls']} ssl;
                 ssl_certificate {cert}; ssl_certificate_key {key};
                 {proxied} }}
        server {{ listen 127.0.0.1:{PORTS['nginx-logs']};
                 access_log {workdir}/nginx-access.log combined buffer=32k flush=1s;
                 {proxied} }}""")])
    haproxy = procs.start("haproxy", ["haproxy", "-f", haproxy_config(workdir, pem, rsa.public_pem)])

    startup, memory, pids = {}, {}, {}
    auth_env = {**bin_env, "AUTH__APPLICATION__PORT": str(PORTS["auth"]), "AUTH__APPLICATION__WORKERS": "1",
                "AUTH__ADMIN__PORT": str(PORTS["auth-admin"]),
                "AUTH__DATABASE__URL": f"sqlite://{workdir}/auth.db?mode=rwc"}
    auth, startup["auth-service"], memory["auth-service"] = start_service(
        procs, "auth-service", "auth-service", auth_env, PORTS["auth"])
    rotating = mint_tokens(workdir, auth_env, args.tokens)
    resource, startup["resource-service"], memory["resource-service"] = start_service(
        procs, "resource-service", "resource-service", {
            **bin_env, "RESOURCE__APPLICATION__PORT": str(PORTS["resource"]),
            "RESOURCE__APPLICATION__WORKERS": "1"}, PORTS["resource"])
    upstream_url = f"http://127.0.0.1:{PORTS['upstream']}"
    gateway, startup["gateway"], memory["gateway"] = start_service(
        procs, "gateway", "gateway", gateway_env(PORTS["gateway"], upstream_url), PORTS["gateway"])
    nocache, _, _ = start_service(procs, "gateway-nocache", "gateway",
                                  gateway_env(PORTS["gateway-nocache"], upstream_url, 0), PORTS["gateway-nocache"])
    gateway_tls, _, _ = start_service(procs, "gateway-tls", "gateway", {
        **gateway_env(PORTS["gateway-tls"], upstream_url),
        "GATEWAY__APPLICATION__TLS__CERTIFICATE_FILE": cert,
        "GATEWAY__APPLICATION__TLS__KEY_FILE": key}, PORTS["gateway-tls"], scheme="https")
    # Production logging: one JSON line per request, standard output to a file.
    gateway_logs, _, _ = start_service(procs, "gateway-logs", "gateway", {
        **gateway_env(PORTS["gateway-logs"], upstream_url),
        "RUST_LOG": "info", "GATEWAY__TELEMETRY__FORMAT": "json"}, PORTS["gateway-logs"])
    gateway_rs256, _, _ = start_service(procs, "gateway-rs256", "gateway", {
        **gateway_env(PORTS["gateway-rs256"], upstream_url),
        "GATEWAY_CONFIG": rs256_settings}, PORTS["gateway-rs256"])
    stack, _, _ = start_service(procs, "stack", "gateway",
                                gateway_env(PORTS["stack"], f"http://127.0.0.1:{PORTS['resource']}"), PORTS["stack"])
    pids = {"gateway": gateway.pid, "resource-service": resource.pid, "auth-service": auth.pid}
    for port in (PORTS["upstream"], PORTS["nginx"]):
        wait_ready(f"http://127.0.0.1:{port}/")

    request = urllib.request.Request(f"http://127.0.0.1:{PORTS['auth']}/login", method="POST",
                                     data=b'{"username":"user1","password":"password123"}',
                                     headers={"content-type": "application/json"})
    with urllib.request.urlopen(request) as response:
        eddsa = json.load(response)["token"]
    hs256 = hs256_token()
    tokens = {"direct": eddsa, "nginx": eddsa, "haproxy-jwt": hs256, "gateway": eddsa,
              "gateway-nocache": eddsa, "gateway-rotating": eddsa, "stack": eddsa,
              "nginx-tls": eddsa, "haproxy-tls": hs256, "gateway-tls": eddsa,
              "nginx-tls-new": eddsa, "haproxy-tls-new": hs256, "gateway-tls-new": eddsa,
              "nginx-logs": eddsa, "haproxy-logs": hs256, "gateway-logs": eddsa,
              "haproxy-rs256": "", "gateway-rs256": "",
              "nginx-1000": eddsa, "haproxy-1000": hs256, "gateway-1000": eddsa}
    rs256_script = rotating_script(workdir, "rs256", rs256_tokens)
    scripts = {"gateway-rotating": rotating, "nginx-tls-new": reconnect,
               "haproxy-tls-new": reconnect, "gateway-tls-new": reconnect,
               "haproxy-rs256": rs256_script, "gateway-rs256": rs256_script}
    connections = {c: MANY_CONNECTIONS for c in ("nginx-1000", "haproxy-1000", "gateway-1000")}
    contenders = list(tokens)
    schemes = {c: "https" if "-tls" in c else "http" for c in contenders}
    same_port = {"direct": "upstream", "gateway-rotating": "gateway", "nginx-1000": "nginx",
                 "haproxy-1000": "haproxy-jwt", "gateway-1000": "gateway"}
    ports = {c: PORTS[same_port.get(c, c.removesuffix("-new"))] for c in contenders}
    # Whose CPU each contender's run is charged to: the proxy's own (the upstream alone for
    # "direct"; the gateway and the resource-service together for "stack").
    charged = {"direct": worker_pids(upstream.pid), "nginx": worker_pids(nginx.pid),
               "haproxy-jwt": [haproxy.pid], "gateway": [gateway.pid], "gateway-nocache": [nocache.pid],
               "gateway-rotating": [gateway.pid],
               "stack": [stack.pid, resource.pid],
               "nginx-tls": worker_pids(nginx.pid), "nginx-tls-new": worker_pids(nginx.pid),
               "haproxy-tls": [haproxy.pid], "haproxy-tls-new": [haproxy.pid],
               "gateway-tls": [gateway_tls.pid], "gateway-tls-new": [gateway_tls.pid],
               "nginx-logs": worker_pids(nginx.pid), "haproxy-logs": [haproxy.pid],
               "gateway-logs": [gateway_logs.pid], "haproxy-rs256": [haproxy.pid],
               "gateway-rs256": [gateway_rs256.pid], "nginx-1000": worker_pids(nginx.pid),
               "haproxy-1000": [haproxy.pid], "gateway-1000": [gateway.pid]}
    # The provider's keys load after readiness (which follows our own auth-service's).
    with open(rs256_tokens) as f:
        first_rs256 = f.readline().strip()
    wait_ready(f"http://127.0.0.1:{PORTS['gateway-rs256']}/protected",
               headers={"x-access-token": first_rs256})
    for name in contenders:  # every contender answers 200 before the clock starts
        run_wrk(ports[name], tokens[name], argparse.Namespace(connections=1, duration=1),
                script=scripts.get(name), scheme=schemes[name])

    rounds = {name: [] for name in contenders}
    for round_number in range(args.rounds):
        order = contenders[round_number % len(contenders):] + contenders[:round_number % len(contenders)]
        for name in order:
            log(f"round {round_number + 1}/{args.rounds}: {name}")
            rounds[name].append(run_wrk(ports[name], tokens[name], args, script=scripts.get(name),
                                        pids=charged[name], scheme=schemes[name],
                                        connections=connections.get(name)))
    results = {}
    for name, runs in rounds.items():
        median = sorted(runs, key=lambda r: r["rps"])[len(runs) // 2]
        cpu = {key: sorted(r[key] for r in runs)[len(runs) // 2] for key in ("user_us", "kernel_us")}
        results[name] = {**median, **cpu, "all_rps": [r["rps"] for r in runs]}

    # Logins: bounded by argon2; how much of a login is anything else.
    lua = os.path.join(workdir, "login.lua")
    with open(lua, "w") as f:
        f.write('wrk.method = "POST"\nwrk.body = \'{"username":"user1","password":"password123"}\'\n'
                'wrk.headers["Content-Type"] = "application/json"\nwrk.path = "/login"\n')
    # The hash alone, measured right before the logins so both see the same machine.
    results["argon2_ms"] = argon2_ms()
    results["login"] = run_wrk(PORTS["auth"], "", argparse.Namespace(connections=2, duration=args.duration), script=lua)
    results["login-serial"] = run_wrk(PORTS["auth"], "", argparse.Namespace(connections=1, duration=args.duration), script=lua)

    peaks = {name: rss_kib(pid, "VmHWM") for name, pid in pids.items()}
    memory = {name: {"idle_kib": memory[name], "peak_kib": peaks[name]} for name in pids}
    return results, memory, startup


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


def tls_section(args, results, labels, verdict):
    """The TLS scenario's table and targets: keep-alive connections, then a new TLS
    connection (a full handshake: wrk resumes no sessions) every REQUESTS_PER_CONNECTION
    requests."""
    lines = [
        "## TLS at the edge",
        "",
        "Clients speak HTTPS to each proxy (TLS 1.3, a P-256 certificate made for the run); the",
        "proxies speak plain HTTP to the same upstream as above. nginx and HAProxy terminate TLS",
        "with OpenSSL, the gateway with rustls on ring. Same load as above; in the second half",
        f"every {REQUESTS_PER_CONNECTION}th request says `Connection: close`, so wrk opens and",
        "handshakes a new connection (no session resumption).",
        "",
        "| contender | connections | requests/s | p50 | p99 | our gateway's throughput against it "
        "| CPU per request: own code + kernel |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for suffix, kind in (("", "kept alive"), ("-new", f"new every {REQUESTS_PER_CONNECTION}")):
        ours = results["gateway-tls" + suffix]
        for base in ("nginx-tls", "haproxy-tls", "gateway-tls"):
            r = results[base + suffix]
            lines.append(
                f"| {labels[base]} | {kind} | {r['rps']:,.0f} | {r['p50']:.2f} ms | {r['p99']:.2f} ms "
                f"| {ours['rps'] / r['rps']:.2f}x | {r['user_us']:.1f} + {r['kernel_us']:.1f} µs |")
    lines += ["", "Targets, for both kinds of connection:", ""]
    for suffix, kind in (("", "kept alive"), ("-new", f"a new one every {REQUESTS_PER_CONNECTION}")):
        ours, h, n = (results[b + suffix] for b in ("gateway-tls", "haproxy-tls", "nginx-tls"))
        lines += [
            f"- {kind}: ≥ 1.0x HAProxy {ours['rps'] / h['rps']:.2f}x, {verdict(ours['rps'] >= h['rps'])}; "
            f"≥ 1.0x nginx (which checks nothing) {ours['rps'] / n['rps']:.2f}x, {verdict(ours['rps'] >= n['rps'])}.",
        ]
    return lines + [""]


def table(rows, labels, results, ours):
    """Rows of contenders, each with our gateway's throughput (`ours`) against it."""
    lines = ["| contender | requests/s | p50 | p99 | our gateway's throughput against it "
             "| CPU per request: own code + kernel |",
             "|---|---:|---:|---:|---:|---:|"]
    for name in rows:
        r = results[name]
        lines.append(f"| {labels[name]} | {r['rps']:,.0f} | {r['p50']:.2f} ms | {r['p99']:.2f} ms "
                     f"| {results[ours]['rps'] / r['rps']:.2f}x | {r['user_us']:.1f} + {r['kernel_us']:.1f} µs |")
    return lines


def cpu(r):
    return r["user_us"] + r["kernel_us"]


def scenario_sections(args, results, labels, verdict):
    """Access logs on, many users, many connections: a table and the targets each."""
    g, gl = results["gateway"], results["gateway-logs"]
    log_cost = (cpu(gl) - cpu(g)) / cpu(g) * 100
    n_cost = (cpu(results["nginx-logs"]) - cpu(results["nginx"])) / cpu(results["nginx"]) * 100
    h_cost = (cpu(results["haproxy-logs"]) - cpu(results["haproxy-jwt"])) / cpu(results["haproxy-jwt"]) * 100
    rs, hrs = results["gateway-rs256"], results["haproxy-rs256"]
    g1k, h1k, n1k = (results[c] for c in ("gateway-1000", "haproxy-1000", "nginx-1000"))
    return [
        "## Access logs on",
        "",
        "Every proxy logs every request: nginx to a file through a 32 KiB buffer flushed every",
        "second, HAProxy (`option httplog`) to its standard output, redirected to a file, the",
        "gateway at its production settings (`info`, JSON lines; written by a background thread",
        "through a buffer, `lossy(false)`: a full buffer makes requests wait, never drops a line).",
        "",
        *table(["nginx-logs", "haproxy-logs", "gateway-logs"], labels, results, "gateway-logs"),
        "",
        f"What the log costs, in CPU per request against the same proxy with logs off: the gateway "
        f"{log_cost:+.0f}% ({cpu(g):.1f} → {cpu(gl):.1f} µs), nginx {n_cost:+.0f}%, HAProxy {h_cost:+.0f}%. "
        f"Target: the gateway's access log under 5% of its CPU per request: "
        f"{verdict(log_cost < 5)}. `bench/instructions.py` counts the instructions of the request path "
        "itself, without the writer thread (see the notes below).",
        "",
        "## Many users",
        "",
        f"{args.tokens:,} distinct valid RS256 tokens in rotation (2048-bit key, made for the run),",
        "the same token set for both: HAProxy verifies every one (`jwt_verify` with the public key",
        "file); the gateway takes them as a provider's tokens (`[[providers]]`, the key from a JWKS),",
        f"with its verified-token cache on, which holds fewer than {args.tokens:,} and so evicts.",
        "Requests are formatted once, in the wrk script's `init`. Beside them, the gateway with its",
        "own EdDSA tokens, the same count.",
        "",
        *table(["haproxy-rs256", "gateway-rs256", "gateway-rotating"], labels, results, "gateway-rs256"),
        "",
        f"Target: the gateway ≥ 1.5x HAProxy on RS256: {rs['rps'] / hrs['rps']:.2f}x, "
        f"{verdict(rs['rps'] >= 1.5 * hrs['rps'])}.",
        "",
        "## Many connections",
        "",
        f"{MANY_CONNECTIONS:,} concurrent keep-alive connections (`wrk -c{MANY_CONNECTIONS}`), the single token of",
        "the first table; the gateway's connection cap is its default, 10,000.",
        "",
        *table(["nginx-1000", "haproxy-1000", "gateway-1000"], labels, results, "gateway-1000"),
        "",
        f"Target: the gateway's p99 no worse than HAProxy's, and no errors (a run with any non-2xx "
        f"answer or socket error fails the benchmark): {g1k['p99']:.2f} ms vs {h1k['p99']:.2f} ms, "
        f"{verdict(g1k['p99'] <= h1k['p99'])}; against nginx {g1k['rps'] / n1k['rps']:.2f}x its throughput.",
        "",
    ]


def comparison_chart(results):
    """One chart of every scenario: the gateway's throughput over HAProxy's."""
    pairs = [("single token", "gateway", "haproxy-jwt"), ("logs on", "gateway-logs", "haproxy-logs"),
             ("RS256, many users", "gateway-rs256", "haproxy-rs256"),
             ("TLS", "gateway-tls", "haproxy-tls"), ("TLS, new connections", "gateway-tls-new", "haproxy-tls-new"),
             ("1,000 connections", "gateway-1000", "haproxy-1000")]
    return [
        "```mermaid",
        "xychart-beta",
        '    title "Our gateway\'s throughput over HAProxy\'s, per scenario (1.0 = even)"',
        "    x-axis [" + ", ".join(f'"{label}"' for label, _, _ in pairs) + "]",
        "    bar [" + ", ".join(f"{results[a]['rps'] / results[b]['rps']:.2f}" for _, a, b in pairs) + "]",
        "    line [" + ", ".join("1.0" for _ in pairs) + "]",
        "```",
        "",
    ]


def render(args, results, memory, startup):
    cpu, cores, kernel, versions = machine()
    labels = {
        "direct": "upstream alone (no proxy)",
        "nginx": "nginx reverse proxy, no auth",
        "haproxy-jwt": "HAProxy jwt_verify HS256",
        "gateway": "our gateway, EdDSA via JWKS (token cache on)",
        "gateway-nocache": "our gateway, EdDSA via JWKS (cache off: verify every request)",
        "gateway-rotating": f"our gateway, {args.tokens:,} tokens in rotation (cache on, evicting)",
        "stack": "our gateway + our resource-service",
        "nginx-tls": "nginx, HTTPS (OpenSSL), no auth",
        "haproxy-tls": "HAProxy, HTTPS (OpenSSL), jwt_verify HS256",
        "gateway-tls": "our gateway, HTTPS (rustls), EdDSA (token cache on)",
        "nginx-logs": "nginx reverse proxy, access log to a file (buffered)",
        "haproxy-logs": "HAProxy jwt_verify HS256, httplog to stdout (a file)",
        "gateway-logs": "our gateway, EdDSA, JSON access log to stdout (a file)",
        "haproxy-rs256": f"HAProxy jwt_verify RS256, {args.tokens:,} tokens in rotation",
        "gateway-rs256": f"our gateway, RS256 provider via JWKS, {args.tokens:,} tokens (cache on, evicting)",
        "nginx-1000": f"nginx reverse proxy, no auth, {MANY_CONNECTIONS:,} connections",
        "haproxy-1000": f"HAProxy jwt_verify HS256, {MANY_CONNECTIONS:,} connections",
        "gateway-1000": f"our gateway, EdDSA (token cache on), {MANY_CONNECTIONS:,} connections",
    }
    ours = results["gateway"]
    names = ["direct", "nginx", "haproxy-jwt", "gateway", "gateway-nocache", "gateway-rotating", "stack"]
    lines = [
        "# Benchmarks",
        "",
        f"Made by `python3 bench/run.py --duration {args.duration} --rounds {args.rounds} --tokens {args.tokens} "
        f"--connections {args.connections}` (this page is its output); rerun it to refresh every number.",
        "",
        f"Machine: {cpu}, {cores} cores, Linux {kernel}; {versions['nginx']}, {versions['haproxy']},",
        f"{versions['wrk']}. Load: `wrk -t1 -c{args.connections} -d{args.duration}s` with a token",
        "header, every proxy on one worker thread, all on loopback in front of the same nginx",
        f"upstream; contenders alternated over {args.rounds} rounds, the median round shown.",
        "",
        "| contender | requests/s | p50 | p99 | our gateway's throughput against it "
        "| CPU per request: own code + kernel |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in names:
        r = results[name]
        ratio = ours["rps"] / r["rps"]
        lines.append(f"| {labels[name]} | {r['rps']:,.0f} | {r['p50']:.2f} ms | {r['p99']:.2f} ms | {ratio:.2f}x "
                     f"| {r['user_us']:.1f} + {r['kernel_us']:.1f} µs |")
    lines += [
        "",
        "CPU per request is the proxy process's user and system time over the run divided by the",
        "requests wrk counted (the upstream's own for \"direct\"; gateway and resource-service together",
        "for \"stack\"), the median over the rounds. Each proxy runs one core flat out under this load,",
        "so its CPU per request, not the noisy requests/s, is what sets its throughput. The kernel's",
        "part is mostly loopback TCP (on loopback the sending process also runs the receiving side's",
        "TCP processing), the same work for every proxy.",
        "",
        "Every round's requests/s: " + "; ".join(
            f"{name} {', '.join(f'{v:,.0f}' for v in results[name]['all_rps'])}"
            for name in names) + ".",
        "",
        "```mermaid",
        "xychart-beta",
        '    title "Requests per second (higher is better)"',
        '    x-axis ["direct", "nginx", "HAProxy JWT", "gateway", "gateway, no cache", "gateway, rotating", "stack"]',
        "    bar [" + ", ".join(f"{results[n]['rps']:.0f}" for n in
                            names) + "]",
        "```",
        "",
        "## Targets",
        "",
    ]
    def verdict(ok):
        return "met" if ok else "**missed**"
    h, n = results["haproxy-jwt"], results["nginx"]
    lines += [
        f"- Gateway throughput ≥ 1.0x HAProxy's jwt_verify, in the median of {args.rounds} rounds: "
        f"{ours['rps'] / h['rps']:.2f}x, {verdict(ours['rps'] >= h['rps'])} "
        f"(cache off: {results['gateway-nocache']['rps'] / h['rps']:.2f}x).",
        f"- Gateway throughput ≥ 1.0x nginx's plain proxy: {ours['rps'] / n['rps']:.2f}x, "
        f"{verdict(ours['rps'] >= n['rps'])}.",
        f"- Gateway p99 no worse than HAProxy's: {ours['p99']:.2f} ms vs {h['p99']:.2f} ms, "
        f"{verdict(ours['p99'] <= h['p99'])}.",
        "",
        "What the two throughput targets ask, in CPU per request: nginx's proxy spends "
        f"{n['user_us'] + n['kernel_us']:.1f} µs ({n['user_us']:.1f} in its own code); HAProxy "
        f"{h['user_us'] + h['kernel_us']:.1f} µs. The gateway's kernel part alone is "
        f"{ours['kernel_us']:.1f} µs, which leaves "
        f"{min(n['user_us'] + n['kernel_us'], h['user_us'] + h['kernel_us']) - ours['kernel_us']:.1f} µs "
        f"for its own code to meet both, where it now spends {ours['user_us']:.1f} µs.",
        "",
        *scenario_sections(args, results, labels, verdict),
        *tls_section(args, results, labels, verdict),
        "## Every scenario at once",
        "",
        *comparison_chart(results),
        "## Logins",
        "",
        f"One argon2id verification (19 MiB, t=2, p=1; `cargo bench -p auth-service --bench "
        f"password`): {results['argon2_ms']:.1f} ms. One login at a time (`wrk -c1`): p50 "
        f"{results['login-serial']['p50']:.1f} ms, so everything but the hash costs "
        + (f"{results['login-serial']['p50'] - results['argon2_ms']:.1f} ms, "
           f"{(results['login-serial']['p50'] - results['argon2_ms']) / results['argon2_ms'] * 100:.0f}% of it "
           if results['login-serial']['p50'] >= results['argon2_ms'] else
           "less than the two measurements' noise (the login came out faster than the hash alone) ")
        + f"(target under 10%: {verdict(results['login-serial']['p50'] - results['argon2_ms'] < 0.1 * results['argon2_ms'])}). "
        f"Two at a time (`-c2`, one hashing thread per core): {results['login']['rps']:.1f} logins/s, "
        f"against {2000 / results['argon2_ms']:.0f}/s for the hashes alone on two cores.",
        "",
        "## Memory and start-up",
        "",
        "| service | RSS idle | RSS peak (after the load above) | start to ready |",
        "|---|---:|---:|---:|",
    ]
    for name in ["gateway", "auth-service", "resource-service"]:
        m = memory[name]
        lines.append(f"| {name} | {m['idle_kib'] / 1024:.1f} MiB | {m['peak_kib'] / 1024:.1f} MiB | "
                     f"{startup[name] * 1000:.0f} ms |")
    lines += [
        "",
        "Targets: under 20 MiB idle and 64 MiB at peak, ready within 200 ms: " + ", ".join(
            f"{name} {verdict(memory[name]['idle_kib'] < 20 * 1024 and memory[name]['peak_kib'] < 64 * 1024 and startup[name] < 0.2)}"
            for name in ["gateway", "auth-service", "resource-service"]) + ".",
        "",
    ]
    notes = os.path.join(ROOT, "bench", "notes.md")
    if os.path.exists(notes):
        with open(notes) as f:
            lines += ["", f.read().rstrip()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
