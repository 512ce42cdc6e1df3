#!/usr/bin/env python3
"""Steady load on the gateway for scripts/swarm-test.sh, and the figures of each step.

  swarm-load.py run --url http://127.0.0.1:18080 --users FILE --log FILE --stop FILE
      Sends the mix below until the stop file appears (or --max-seconds / --max-requests),
      writing one line per request to the log: start, end, kind, ok, status, detail.
  swarm-load.py report --log FILE --marks FILE
      Splits the log into the steps the marks file names and prints the summary table;
      exits 1 when a step's expectation does not hold.

The mix, through the gateway's published port only, a new connection per request (so that
no failure is a client's stale keep-alive connection) and never a retry:
  - 4 clients, each GET /protected 8 times a second with the access token of a session,
    the answer's `user` checked against the session's;
  - GET /.well-known/jwks.json 4 times a second (the auth-service behind a public route),
    the answer checked to hold keys;
  - POST /refresh every 1.5 s, sessions in turn; the new tokens replace the session's;
  - POST /login every 10 s, a new session (the first sessions are made at start, one per
    user and a few more).
Login and refresh stay under the production profile's rate limits on the gateway (10/min
and 60/min per client address) and the auth-service (10 refreshes a minute per session,
60 per user). Only 200 with the expected body counts as served; any other status, an
unexpected body, a connection error or a timeout (10 s) is a failure, with its reason.

The marks file has one line per step: `name start end [kill_time]` (Unix seconds); steps
tile the run. Expectations: no failure in any step, except `kill` (failures only for
requests already sent when `docker kill` returned) and `gateway-update` (measured: the
unavailable window, from the first failed request sent to the first success answered
after it).
"""

import argparse
import base64
import collections
import http.client
import json
import os
import random
import sys
import threading
import time
import urllib.parse

TIMEOUT = 10.0
PROTECTED_CLIENTS = 4
PROTECTED_PER_SECOND = 8.0
JWKS_PER_SECOND = 4.0
REFRESH_EVERY = 1.5
LOGIN_EVERY = 10.0
EXTRA_INITIAL_SESSIONS = 3
MAX_SESSIONS = 40

MIX = (
    f"{PROTECTED_CLIENTS} clients x {PROTECTED_PER_SECOND:g}/s GET /protected, "
    f"{JWKS_PER_SECOND:g}/s GET /.well-known/jwks.json, a POST /refresh every {REFRESH_EVERY:g} s, "
    f"a POST /login every {LOGIN_EVERY:g} s; a new connection per request, no retries"
)


def token_kid(token):
    """The `kid` of a JWT's header, or '?'."""
    try:
        header = token.split(".")[0]
        header += "=" * (-len(header) % 4)
        return json.loads(base64.urlsafe_b64decode(header)).get("kid", "?")
    except (ValueError, IndexError, AttributeError):
        return "?"


class Load:
    def __init__(self, url, users, log_path, stop_path, max_seconds, max_requests):
        parsed = urllib.parse.urlsplit(url)
        self.host, self.port = parsed.hostname, parsed.port or 80
        self.users = users
        self.stop_path = stop_path
        self.deadline = time.monotonic() + max_seconds
        self.max_requests = max_requests
        self.lock = threading.Lock()
        self.log = open(log_path, "a", buffering=1)
        self.count = 0
        self.sessions = []  # dicts: user, token, refresh
        self.next_session = 0
        self.stopping = threading.Event()

    def stopped(self):
        if self.stopping.is_set():
            return True
        if time.monotonic() > self.deadline or os.path.exists(self.stop_path):
            self.stopping.set()
        with self.lock:
            if self.count >= self.max_requests:
                self.stopping.set()
        return self.stopping.is_set()

    def request(self, kind, method, path, body=None, headers=None, check=None, note="-"):
        """One request on a new connection, logged (with `note` when it succeeded); returns
        the parsed JSON on success."""
        headers = dict(headers or {})
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        start = time.time()
        status, ok, detail, answer = 0, False, "", None
        conn = http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT)
        try:
            conn.request(method, path, body=payload, headers=headers)
            response = conn.getresponse()
            status = response.status
            raw = response.read()
            try:
                answer = json.loads(raw)
            except ValueError:
                answer = None
            if status != 200:
                message = answer.get("message", "") if isinstance(answer, dict) else raw[:80]
                detail = f"HTTP {status} {message}"
            else:
                problem = check(answer) if check else None
                if problem:
                    detail = f"body: {problem}"
                else:
                    ok, detail = True, note
        except Exception as error:  # every failure counts, whatever it is
            detail = f"{type(error).__name__}: {error}"
        finally:
            conn.close()
        end = time.time()
        with self.lock:
            self.count += 1
            self.log.write(
                f"{start:.6f}\t{end:.6f}\t{kind}\t{int(ok)}\t{status}\t"
                + (detail or "-").replace("\t", " ").replace("\n", " ")
                + "\n"
            )
        return answer if ok else None

    def log_kid(self, kind, token):
        """Which key signed a token just issued (the report looks for a rotated key)."""
        with self.lock:
            now = time.time()
            self.log.write(f"{now:.6f}\t{now:.6f}\t{kind}-kid\t1\t0\t{token_kid(token)}\n")

    def login(self, user):
        def check(answer):
            if not isinstance(answer, dict) or len(str(answer.get("token", "")).split(".")) != 3:
                return "no JWT"
            if answer.get("token_type") != "Bearer" or not answer.get("refresh_token"):
                return "no Bearer token_type or refresh_token"
            return None

        answer = self.request(
            "login", "POST", "/login",
            {"username": user[0], "password": user[1]}, check=check,
        )
        if answer:
            self.log_kid("login", answer["token"])
            with self.lock:
                self.sessions.append(
                    {"user": user[0], "token": answer["token"], "refresh": answer["refresh_token"]}
                )
                if len(self.sessions) > MAX_SESSIONS:
                    self.sessions.pop(0)

    def refresh(self):
        with self.lock:
            if not self.sessions:
                return
            self.next_session = (self.next_session + 1) % len(self.sessions)
            session = self.sessions[self.next_session]

        def check(answer):
            if not isinstance(answer, dict) or len(str(answer.get("token", "")).split(".")) != 3:
                return "no JWT"
            return None if answer.get("refresh_token") else "no refresh_token"

        answer = self.request(
            "refresh", "POST", "/refresh", {"refresh_token": session["refresh"]}, check=check
        )
        with self.lock:
            if answer:
                session["token"], session["refresh"] = answer["token"], answer["refresh_token"]
            elif session in self.sessions:
                # Its state is unknown now (rotated or not): never presented again.
                self.sessions.remove(session)
        if answer:
            self.log_kid("refresh", answer["token"])

    def protected(self):
        with self.lock:
            if not self.sessions:
                return
            session = random.choice(self.sessions)
            user, token = session["user"], session["token"]

        def check(answer):
            if not isinstance(answer, dict) or answer.get("user") != user:
                return f"user {answer.get('user') if isinstance(answer, dict) else answer!r}, expected {user}"
            if answer.get("message") != "This is a protected route!":
                return f"message {answer.get('message')!r}"
            return None

        self.request(
            "protected", "GET", "/protected",
            headers={"x-access-token": token}, check=check, note=f"kid={token_kid(token)}",
        )

    def jwks(self):
        def check(answer):
            keys = answer.get("keys") if isinstance(answer, dict) else None
            return None if keys else "no keys"

        self.request("jwks", "GET", "/.well-known/jwks.json", check=check)

    def paced(self, interval, action, offset=0.0):
        """Runs `action` every `interval` seconds (a slot missed is skipped, not made up)."""
        next_at = time.monotonic() + offset
        while not self.stopped():
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(min(delay, 0.5))
                continue
            action()
            next_at += interval
            now = time.monotonic()
            if next_at < now:
                next_at = now + interval

    def run(self):
        for user in self.users:
            self.login(user)
        for i in range(EXTRA_INITIAL_SESSIONS):
            self.login(self.users[i % len(self.users)])
        logins = iter(range(10**9))
        workers = [
            threading.Thread(
                target=self.paced,
                args=(1 / PROTECTED_PER_SECOND, self.protected, i / (PROTECTED_CLIENTS * PROTECTED_PER_SECOND)),
            )
            for i in range(PROTECTED_CLIENTS)
        ]
        workers.append(threading.Thread(target=self.paced, args=(1 / JWKS_PER_SECOND, self.jwks)))
        workers.append(threading.Thread(target=self.paced, args=(REFRESH_EVERY, self.refresh, 0.3)))
        workers.append(
            threading.Thread(
                target=self.paced,
                args=(LOGIN_EVERY, lambda: self.login(self.users[next(logins) % len(self.users)]), LOGIN_EVERY),
            )
        )
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        self.log.close()


def read_log(path):
    entries = []
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t", 5)
            if len(parts) != 6:
                continue
            start, end, kind, ok, status, detail = parts
            entries.append((float(start), float(end), kind, ok == "1", int(status), detail))
    return entries


def report(log_path, marks_path, rotated_kid=None):
    entries = read_log(log_path)
    requests = [e for e in entries if not e[2].endswith("-kid")]
    steps = []
    with open(marks_path) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3:
                steps.append((parts[0], float(parts[1]), float(parts[2]), float(parts[3]) if len(parts) > 3 else None))
    problems = []
    rows = []
    print(f"load: {MIX}")
    print(f"{'step':<22}{'requests':>9}{'served':>9}{'failed':>8}  notes")
    for name, start, end, kill_time in steps:
        mine = [e for e in requests if start <= e[0] < end]
        served = sum(1 for e in mine if e[3])
        failed = [e for e in mine if not e[3]]
        by_kind = collections.Counter(e[2] for e in mine)
        notes = [f"{end - start:.0f} s", "/".join(f"{by_kind[k]} {k}" for k in ("protected", "jwks", "refresh", "login"))]
        if name == "kill":
            late = [e for e in failed if e[0] > kill_time]
            notes.append(f"{len(failed) - len(late)} failed in flight at the kill")
            if late:
                problems.append(f"kill: {len(late)} request(s) sent after the kill failed")
        elif name == "gateway-update":
            if failed:
                first_failure = min(e[0] for e in failed)
                recovered = [e for e in mine if e[3] and e[0] > first_failure]
                if recovered:
                    window = min(e[1] for e in recovered) - first_failure
                    notes.append(f"unavailable {window:.1f} s")
                else:
                    notes.append("never served again")
                    problems.append("gateway-update: no request was served after the first failure")
            else:
                notes.append("unavailable 0.0 s")
        elif failed:
            problems.append(f"{name}: {len(failed)} request(s) failed")
        if name == "key-rotation" and rotated_kid:
            signed = [e for e in entries if e[2].endswith("-kid") and e[5] == rotated_kid and start <= e[0] < end]
            verified = [e for e in mine if e[2] == "protected" and e[3] and e[5] == f"kid={rotated_kid}"]
            notes.append(f"new key: {len(signed)} tokens issued, {len(verified)} verified")
            if not verified:
                problems.append("key-rotation: no token signed by the new key was verified")
        rows.append((name, len(mine), served, len(failed)))
        print(f"{name:<22}{len(mine):>9}{served:>9}{len(failed):>8}  {'; '.join(notes)}")
        for (kind, detail), count in collections.Counter((e[2], e[5]) for e in failed).most_common(6):
            print(f"{'':<22}{'':>9}{'':>9}{count:>8}  {kind}: {detail}")
    total = len(requests)
    served = sum(1 for e in requests if e[3])
    print(f"{'total':<22}{total:>9}{served:>9}{total - served:>8}")
    for problem in problems:
        print(f"FAIL {problem}")
    return 1 if problems else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run")
    run.add_argument("--url", required=True)
    run.add_argument("--users", required=True, help="file of username:password lines")
    run.add_argument("--log", required=True)
    run.add_argument("--stop", required=True, help="the load stops once this file exists")
    run.add_argument("--max-seconds", type=float, default=480)
    run.add_argument("--max-requests", type=int, default=50000)
    rep = sub.add_parser("report")
    rep.add_argument("--log", required=True)
    rep.add_argument("--marks")
    rep.add_argument("--rotated-kid")
    rep.add_argument("--kid-seen", action="store_true", help="exit 0 once a token by --rotated-kid was verified")
    args = parser.parse_args()
    if args.command == "run":
        with open(args.users) as f:
            users = [tuple(line.strip().split(":", 1)) for line in f if ":" in line]
        Load(args.url, users, args.log, args.stop, args.max_seconds, args.max_requests).run()
        return 0
    if args.kid_seen:
        return 0 if kid_verified(args.log, args.rotated_kid) else 1
    return report(args.log, args.marks, args.rotated_kid)


def kid_verified(log_path, kid):
    """Whether a token signed by `kid` was verified on a protected call."""
    entries = read_log(log_path)
    return any(e[2] == "protected" and e[3] and e[5] == f"kid={kid}" for e in entries)


if __name__ == "__main__":
    sys.exit(main())
