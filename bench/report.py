"""docs/BENCHMARKS.md from a run's results: one table per scenario, the targets, a chart of
every scenario, memory and start-up, then bench/notes.md."""

import os

from harness import MANY_CONNECTIONS, REQUESTS_PER_CONNECTION, ROOT, machine

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


def scenario_sections(args, results, memory, labels, verdict):
    """Access logs on, many users, many connections: a table and the targets each."""
    g, gl = results["gateway"], results["gateway-logs"]
    log_cost = (cpu(gl) - cpu(g)) / cpu(g) * 100
    n_cost = (cpu(results["nginx-logs"]) - cpu(results["nginx"])) / cpu(results["nginx"]) * 100
    h_cost = (cpu(results["haproxy-logs"]) - cpu(results["haproxy-jwt"])) / cpu(results["haproxy-jwt"]) * 100
    rs, hrs = results["gateway-rs256"], results["haproxy-rs256"]
    lookups = results["rs256_cache"]
    hit_rate = lookups["hits"] / max(1, lookups["hits"] + lookups["misses"]) * 100
    rs256_peak = memory["gateway-rs256"]["peak_kib"] / 1024
    g1k, h1k, n1k = (results[c] for c in ("gateway-1000", "haproxy-1000", "nginx-1000"))
    return [
        "## Access logs on",
        "",
        "Every proxy logs every request: nginx to a file through a 32 KiB buffer flushed every",
        "second, HAProxy (`option httplog`) to its standard output, redirected to a file, the",
        "gateway at its production settings (`info`, JSON lines built straight from the request and",
        "written by a background thread through a buffer: a full queue makes requests wait, never",
        "drops a line).",
        "",
        *table(["nginx-logs", "haproxy-logs", "gateway-logs"], labels, results, "gateway-logs"),
        "",
        f"What the log costs, in CPU per request against the same proxy with logs off: the gateway "
        f"{log_cost:+.0f}% ({cpu(g):.1f} → {cpu(gl):.1f} µs), nginx {n_cost:+.0f}%, HAProxy {h_cost:+.0f}%. "
        f"Target: the gateway's access log under 5% of its CPU per request: "
        f"{verdict(log_cost < 5)}. `bench/instructions.py --logs` counts the gateway's instructions per "
        "request with the log on, its writer thread included, and is steadier (see the notes below).",
        "",
        "## Many users",
        "",
        f"{args.tokens:,} distinct valid RS256 tokens in rotation (2048-bit key, made for the run),",
        "the same token set for both: HAProxy verifies every one (`jwt_verify` with the public key",
        "file); the gateway takes them as a provider's tokens (`[[providers]]`, the key from a JWKS),",
        "with its verified-token cache on at its default size (`jwt.cache_bytes`).",
        "Requests are formatted once, in the wrk script's `init`. Beside them, the gateway with its",
        "own EdDSA tokens, the same count.",
        "",
        *table(["haproxy-rs256", "gateway-rs256", "gateway-rotating"], labels, results, "gateway-rs256"),
        "",
        f"The RS256 gateway's cache over the timed rounds: {lookups['hits']:,.0f} hits, "
        f"{lookups['misses']:,.0f} misses ({hit_rate:.1f}% hits); its memory at peak {rs256_peak:.1f} MiB.",
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
        "gateway-rotating": f"our gateway, {args.tokens:,} tokens in rotation (cache on)",
        "stack": "our gateway + our resource-service",
        "nginx-tls": "nginx, HTTPS (OpenSSL), no auth",
        "haproxy-tls": "HAProxy, HTTPS (OpenSSL), jwt_verify HS256",
        "gateway-tls": "our gateway, HTTPS (rustls), EdDSA (token cache on)",
        "nginx-logs": "nginx reverse proxy, access log to a file (buffered)",
        "haproxy-logs": "HAProxy jwt_verify HS256, httplog to stdout (a file)",
        "gateway-logs": "our gateway, EdDSA, JSON access log to stdout (a file)",
        "haproxy-rs256": f"HAProxy jwt_verify RS256, {args.tokens:,} tokens in rotation",
        "gateway-rs256": f"our gateway, RS256 provider via JWKS, {args.tokens:,} tokens (cache on)",
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
        *scenario_sections(args, results, memory, labels, verdict),
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
