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
                 (minted by `auth-service tokens mint`), each verified once and then found in
                 the cache while it has room; requests are prebuilt in the wrk script's init
  stack          our gateway in front of our resource-service (identity signed and checked)

Access logs on everywhere: nginx writing its access log to a file through a buffer
(`buffer=32k flush=1s`), HAProxy logging each request (`option httplog`) to its standard
output, redirected to a file, and the gateway at its production settings (`info`, JSON),
its standard output to a file:
  nginx-logs, haproxy-logs, gateway-logs

Many users: 50,000 distinct RS256 tokens in rotation (signed here with an RSA key made for
the run; HAProxy has no EdDSA), HAProxy verifying every one with the public key, the gateway
as a provider whose JWKS holds that key (its cache on, at its default size; the report gives
its hit rate); the gateway's own EdDSA with the same count is gateway-rotating above:
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
import json
import os
import shutil
import sys
import tempfile
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# Re-exported: bench/instructions.py, bench/capacity.py and bench/revocation.py import them
# from here.
from harness import (  # noqa: E402,F401
    HS256_SECRET, MANY_CONNECTIONS, PORTS, ROOT, RS256_AUDIENCE, RS256_ISSUER, TARGET,
    UPSTREAM_BODY, Processes, argon2_ms, build, cache_lookups, cpu_ticks, ensure_tools, log, rss_kib,
    run_wrk,
    start_service, to_ms, wait_ready, worker_pids)
from contenders import (  # noqa: E402,F401
    RECONNECT_LUA, ROTATING_LUA, gateway_env, haproxy_config, hs256_token, mint_tokens,
    nginx_config, rotating_script, rs256_provider, tls_files)
from report import render  # noqa: E402
import rsa_tokens  # noqa: E402

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
    # nginx's listen backlog is 511 unless told: 1,000 clients connecting at once overflowed
    # it, and the dropped connection attempts came back as wrk timeouts. HAProxy's follows
    # its maxconn, the gateway's is 2,048.
    nginx = procs.start("nginx", ["nginx", "-c", nginx_config(workdir, "nginx", f"""
        upstream up {{ server 127.0.0.1:{PORTS['upstream']}; keepalive 64; }}
        server {{ listen 127.0.0.1:{PORTS['nginx']} backlog=4096;
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
    gateway_rs256, _, memory["gateway-rs256"] = start_service(procs, "gateway-rs256", "gateway", {
        **gateway_env(PORTS["gateway-rs256"], upstream_url),
        "GATEWAY__ADMIN__PORT": str(PORTS["gateway-rs256-admin"]),
        "GATEWAY_CONFIG": rs256_settings}, PORTS["gateway-rs256"])
    stack, _, _ = start_service(procs, "stack", "gateway",
                                gateway_env(PORTS["stack"], f"http://127.0.0.1:{PORTS['resource']}"), PORTS["stack"])
    pids = {"gateway": gateway.pid, "resource-service": resource.pid, "auth-service": auth.pid,
            "gateway-rs256": gateway_rs256.pid}
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
    # Its cache's hits over the timed rounds only (the warm-up above filled it once).
    rs256_before = cache_lookups(PORTS["gateway-rs256-admin"])
    for round_number in range(args.rounds):
        order = contenders[round_number % len(contenders):] + contenders[:round_number % len(contenders)]
        for name in order:
            log(f"round {round_number + 1}/{args.rounds}: {name}")
            rounds[name].append(run_wrk(ports[name], tokens[name], args, script=scripts.get(name),
                                        pids=charged[name], scheme=schemes[name],
                                        connections=connections.get(name)))
    rs256_after = cache_lookups(PORTS["gateway-rs256-admin"])
    hits, misses = (after - before for after, before in zip(rs256_after, rs256_before))
    results = {"rs256_cache": {"hits": hits, "misses": misses}}
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


if __name__ == "__main__":
    main()
