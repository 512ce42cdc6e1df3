#!/usr/bin/env python3
"""Counts the instructions the gateway's own process spends per proxied request, the
steady measure behind the profiling notes in docs/BENCHMARKS.md (requests/s on a shared
machine move by ±20% from run to run; instruction counts move by well under 1%).

Starts, on loopback, the fixed nginx upstream and the auth-service (for its keys and a
token), then the release gateway under `valgrind --tool=callgrind` with one worker;
warms up, zeroes the counters, loads it with `wrk -c8` for a few seconds and divides the
instructions counted by the requests answered. Kernel work is not counted. With --logs,
the gateway logs as in production (`info`, one JSON line per request, to a file), and the
count includes its log writer's thread.

Usage: bench/instructions.py [--path /protected] [--seconds 8] [--logs] [--keep]
Needs: valgrind, nginx, wrk, and the release binaries (cargo build --release).
Note: under valgrind SHA-256 runs without the CPU's SHA extensions and `rep stosb`
counts once per byte, so the HMAC and memset lines weigh more here than on the hardware.
"""

import argparse
import os
import re
import shutil
import subprocess
import tempfile
import time
import json
import urllib.request

import run as bench

CALLGRIND_PORT = 18090


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--path", default="/protected")
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--keep", action="store_true", help="keep the callgrind output")
    parser.add_argument("--logs", action="store_true", help="production access logs on")
    args = parser.parse_args()
    for tool in ("valgrind", "callgrind_control", "callgrind_annotate", "nginx", "wrk"):
        if not shutil.which(tool):
            raise SystemExit(f"missing {tool}")

    workdir = tempfile.mkdtemp(prefix="jwt-instructions-")
    procs = bench.Processes(workdir)
    ports = bench.PORTS
    try:
        procs.start("upstream", ["nginx", "-c", bench.nginx_config(workdir, "upstream", f"""
            server {{ listen 127.0.0.1:{ports['upstream']};
                     location / {{ default_type application/json; return 200 '{bench.UPSTREAM_BODY}'; }} }}""")])
        bench.start_service(procs, "auth-service", "auth-service", {
            "RUST_LOG": "warn", "APP_ENVIRONMENT": "local",
            "AUTH__APPLICATION__PORT": str(ports["auth"]), "AUTH__APPLICATION__WORKERS": "1",
            # The revocation stream the gateway follows (bench.gateway_env names it).
            "AUTH__ADMIN__PORT": str(ports["auth-admin"]),
            "AUTH__DATABASE__URL": f"sqlite://{workdir}/auth.db?mode=rwc"}, ports["auth"])
        request = urllib.request.Request(
            f"http://127.0.0.1:{ports['auth']}/login", method="POST",
            data=b'{"username":"user1","password":"password123"}',
            headers={"content-type": "application/json"})
        with urllib.request.urlopen(request) as response:
            token = json.load(response)["token"]

        out = os.path.join(workdir, "callgrind.out")
        env = bench.gateway_env(CALLGRIND_PORT, f"http://127.0.0.1:{ports['upstream']}")
        if args.logs:
            env.update({"RUST_LOG": "info", "GATEWAY__TELEMETRY__FORMAT": "json"})
        gateway = procs.start("gateway", ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                                          os.path.join(bench.TARGET, "release", "gateway")], env)
        bench.wait_ready(f"http://127.0.0.1:{CALLGRIND_PORT}/health/ready", timeout=60)

        def load(seconds):
            result = subprocess.run(
                ["wrk", "-t1", "-c8", f"-d{seconds}s", "-H", f"x-access-token: {token}",
                 f"http://127.0.0.1:{CALLGRIND_PORT}{args.path}"],
                capture_output=True, text=True, check=True).stdout
            if "Non-2xx" in result or "Socket errors" in result:
                raise RuntimeError(f"errors under load:\n{result}")
            return int(re.search(r"(\d+) requests in", result).group(1))

        load(2)
        subprocess.run(["callgrind_control", "-z", str(gateway.pid)], check=True, capture_output=True)
        requests = load(args.seconds)
        subprocess.run(["callgrind_control", "-d", str(gateway.pid)], check=True, capture_output=True)
        time.sleep(1)
        dump = f"{out}.1"
        annotated = subprocess.run(["callgrind_annotate", "--inclusive=no", dump],
                                   capture_output=True, text=True, check=True).stdout
        total = int(re.search(r"([\d,]+) \(100.0%\)\s+PROGRAM TOTALS", annotated).group(1).replace(",", ""))
        print(f"{args.path}: {requests} requests, {total / requests:,.0f} instructions per request "
              f"(gateway process, user space{', access logs on' if args.logs else ''})")
        if args.keep:
            kept = os.path.join(os.getcwd(), "callgrind.gateway.out")
            shutil.copy(dump, kept)
            print(f"profile kept in {kept} (callgrind_annotate --inclusive=yes {kept})")
    finally:
        procs.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
