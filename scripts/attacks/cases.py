"""The attacks, one function each. A case gets the running stack, runs its attack while a
normal client is served beside it, and returns None when the outcome is the bounded one
the README promises, or a sentence saying what happened instead. Every loop is bounded in
count and time; everything goes to loopback.
"""

import json
import socket
import threading
import time

from stack import NormalClient, request

# The deadlines the suite's stack runs with (see attack-suite.py), and the slack a loaded
# two-core machine gets on top of them.
HEADER_TIMEOUT = 2
BODY_IDLE_TIMEOUT = 2
KEEPALIVE_TIMEOUT = 3
SLACK = 2.5


def connect(port, timeout=10.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_until_closed(sock, limit):
    """Reads until the peer closes (or resets) the connection or `limit` seconds pass:
    (bytes read, seconds taken, whether the peer closed)."""
    started = time.monotonic()
    data = b""
    while True:
        left = limit - (time.monotonic() - started)
        if left <= 0:
            return data, time.monotonic() - started, False
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return data, time.monotonic() - started, False
        except ConnectionResetError:
            return data, time.monotonic() - started, True
        if not chunk:
            return data, time.monotonic() - started, True
        data += chunk


def read_response(sock, limit=5.0):
    """Reads one response with a Content-Length body: (status, headers, body text) or None
    when nothing complete came within `limit`."""
    sock.settimeout(limit)
    data = b""
    deadline = time.monotonic() + limit
    while b"\r\n\r\n" not in data and time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except (socket.timeout, ConnectionResetError):
            return None
        if not chunk:
            break
        data += chunk
    if b"\r\n\r\n" not in data:
        return None
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length and time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except (socket.timeout, ConnectionResetError):
            break
        if not chunk:
            break
        body += chunk
    return status, headers, body[:length].decode("utf-8", "replace")


def json_message(body):
    try:
        value = json.loads(body)
    except ValueError:
        return None
    return value.get("message") if isinstance(value, dict) else None


def beside(stack, name, attack):
    """Runs `attack()` while a normal client is served; the first problem of either."""
    with NormalClient(stack, name).prepare() as client:
        problem = attack()
    return problem or client.verdict()


# --- slow and stalled clients ------------------------------------------------------------


def closed_in_time(sock, limit, what):
    """None when the peer closes `sock` within `limit` seconds, else what stayed open."""
    _, took, closed = read_until_closed(sock, limit + 5)
    if not closed or took > limit:
        return f"{what} still open after {took:.1f} s"
    return None


def slow_headers(stack):
    """A first request whose headers never end: closed within the header timeout."""

    def attack():
        with connect(stack.port) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: attack\r\nX-Slow: ")
            return closed_in_time(s, HEADER_TIMEOUT + SLACK, "the connection")

    return beside(stack, "normal-slow-headers", attack)


def stalled_second_request(stack):
    """A keep-alive connection answered once, then one byte of a second request: closed
    within the header timeout (not the keep-alive one, which a byte must not extend)."""

    def attack():
        with connect(stack.port) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: attack\r\n\r\n")
            first = read_response(s)
            if first is None or first[0] != 200:
                return f"the first request was not answered: {first}"
            s.sendall(b"G")
            return closed_in_time(s, HEADER_TIMEOUT + SLACK, "after a second request's first byte, the connection")

    return beside(stack, "normal-stalled-second", attack)


def slow_body(stack):
    """A login whose body stops after one of its 1,000 declared bytes: 408 JSON, closed."""

    def attack():
        with connect(stack.port) as s:
            s.sendall(
                b"POST /login HTTP/1.1\r\nHost: attack\r\nContent-Type: application/json\r\n"
                b"Content-Length: 1000\r\n\r\n{"
            )
            data, took, closed = read_until_closed(s, BODY_IDLE_TIMEOUT + SLACK + 5)
        if not closed or took > BODY_IDLE_TIMEOUT + SLACK:
            return f"connection still open after {took:.1f} s"
        head, _, body = data.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 408") or json_message(body) is None:
            return f"closed without a 408 JSON answer: {data[:200]!r}"
        return None

    return beside(stack, "normal-slow-body", attack)


def idle_keepalive(stack):
    """A connection that sends nothing after its answer: closed after the keep-alive
    timeout, and not before the header timeout would (it is idle, not slow)."""

    def attack():
        with connect(stack.port) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: attack\r\n\r\n")
            if read_response(s) is None:
                return "the request was not answered"
            return closed_in_time(s, KEEPALIVE_TIMEOUT + SLACK, "the idle connection")

    return beside(stack, "normal-idle", attack)


# --- requests the proxy does not carry ---------------------------------------------------


def _immediate_refusal(stack, raw, name, statuses=range(400, 500), json_body=True):
    """`raw` answered at once with one of `statuses` (a JSON refusal unless `json_body` is
    false), then the connection closed with nothing more."""

    def attack():
        with connect(stack.port) as s:
            started = time.monotonic()
            s.sendall(raw)
            res = read_response(s, limit=3)
            took = time.monotonic() - started
            if res is None:
                return f"no answer within {took:.1f} s"
            status, _, body = res
            if status not in statuses or (json_body and json_message(body) is None):
                return f"answered {status} {body[:120]!r}, not a 4xx JSON refusal"
            # Nothing may follow on this connection: what came after is not a request.
            rest, _, closed = read_until_closed(s, SLACK + 1)
            if rest:
                return f"a second answer followed the refusal: {rest[:120]!r}"
            if not closed:
                return "the connection stayed open after the refusal"
        return None

    return beside(stack, name, attack)


def upgrade_smuggling(stack):
    """`Upgrade: websocket` on a login with a request pipelined behind its body: an
    immediate 4xx JSON answer, and the pipelined request never runs."""
    raw = (
        b"POST /login HTTP/1.1\r\nHost: attack\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
        b"GET /protected HTTP/1.1\r\nHost: attack\r\n\r\n"
    )
    return _immediate_refusal(stack, raw, "normal-upgrade")


def connect_method(stack):
    """`CONNECT` is not proxied: an immediate 4xx JSON answer."""
    raw = b"CONNECT internal.example:443 HTTP/1.1\r\nHost: internal.example:443\r\n\r\n"
    return _immediate_refusal(stack, raw, "normal-connect")


def unmet_expectation(stack):
    """An `Expect` other than 100-continue: 417 JSON at once."""
    raw = (
        b"POST /login HTTP/1.1\r\nHost: attack\r\nExpect: 200-ok\r\n"
        b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
    )
    return _immediate_refusal(stack, raw, "normal-expect", statuses=(417,))


def content_length_with_chunked(stack):
    """`Content-Length` and `Transfer-Encoding: chunked` together (the request-smuggling
    classic): 400, and the connection closed so nothing after it is read as a request."""
    raw = (
        b"POST /login HTTP/1.1\r\nHost: attack\r\nContent-Type: application/json\r\n"
        b"Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        b"GET /protected HTTP/1.1\r\nHost: attack\r\n\r\n"
    )
    # Refused by the HTTP parser itself, before any service code runs: the answer has no
    # body, and what matters is that the connection closes with nothing smuggled through.
    return _immediate_refusal(stack, raw, "normal-clte", statuses=(400,), json_body=False)


def conflicting_lengths(stack):
    """Two different `Content-Length` values: 400 and closed."""
    raw = (
        b"POST /login HTTP/1.1\r\nHost: attack\r\nContent-Type: application/json\r\n"
        b"Content-Length: 2\r\nContent-Length: 40\r\n\r\n{}"
    )
    # As above: the HTTP parser's own 400, without a body.
    return _immediate_refusal(stack, raw, "normal-cl-cl", statuses=(400,), json_body=False)


# --- connections -------------------------------------------------------------------------


def many_idle_connections(stack, count=1000):
    """`count` idle connections under the default cap: a new client is still served."""

    def attack():
        held = []
        try:
            for _ in range(count):
                held.append(connect(stack.port, timeout=5))
            status, _, body = request(stack.port, "GET", "/", timeout=5)
            if (status, json_message(body)) != (200, "Welcome to the Flask JWT API!"):
                return f"a new client got {status} {body[:120]!r} beside {count} idle connections"
        except OSError as e:
            return f"after {len(held)} idle connections: {e}"
        finally:
            for s in held:
                s.close()
        return None

    return beside(stack, "normal-many-idle", attack)


def connection_cap(stack, cap):
    """With `cap` connections held open the next one is refused at once (503 JSON), and
    once the held ones time out a new client is served again. The normal client's
    keep-alive connection is opened first, so it counts in the cap and keeps working."""

    def attack():
        held = []
        try:
            # The normal client holds one connection; fill the rest of the cap.
            time.sleep(0.3)
            for _ in range(cap - 1):
                s = connect(stack.port)
                held.append(s)
            time.sleep(0.3)
            started = time.monotonic()
            with connect(stack.port) as extra:
                extra.sendall(b"GET / HTTP/1.1\r\nHost: attack\r\n\r\n")
                res = read_response(extra, limit=3)
            took = time.monotonic() - started
            if res is None or res[0] != 503 or "retry-after" not in res[1] or json_message(res[2]) is None:
                return f"over the cap: {res}, not a 503 JSON answer with Retry-After"
            if took > 1.0:
                return f"the refusal over the cap took {took:.1f} s"
            # The held connections sent nothing: they go when the first-request header
            # timeout passes, and then a new client is served.
            deadline = time.monotonic() + HEADER_TIMEOUT + KEEPALIVE_TIMEOUT + SLACK + 5
            while time.monotonic() < deadline:
                try:
                    status, _, body = request(stack.port, "GET", "/", timeout=2)
                    if status == 200:
                        return None
                except OSError:
                    pass
                time.sleep(0.3)
            return "no new client was served after the idle connections timed out"
        finally:
            for s in held:
                s.close()

    return beside(stack, "normal-cap", attack)


# --- logins and tokens -------------------------------------------------------------------


def concurrent_guesses(stack, count=100):
    """`count` simultaneous wrong passwords for one username from one address: at most the
    limit are checked (401), the rest are refused at once (429 with Retry-After)."""
    victim = "guess-victim"
    stack.register(victim, "the-victims-real-password")
    results = []
    lock = threading.Lock()
    barrier = threading.Barrier(count)

    def guess(i):
        try:
            barrier.wait(timeout=20)
            r = request(stack.port, "POST", "/login", {"username": victim, "password": f"guess-{i}"}, timeout=30)
        except Exception as e:  # counted as a problem below
            r = (0, {}, repr(e))
        with lock:
            results.append(r)

    def attack():
        threads = [threading.Thread(target=guess, args=(i,), daemon=True) for i in range(count)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=40)
        statuses = [r[0] for r in results]
        checked = statuses.count(401)
        refused = [r for r in results if r[0] == 429]
        other = [r for r in results if r[0] not in (401, 429)]
        if other:
            return f"{len(other)} guesses got neither 401 nor 429, e.g. {other[0][:3]}"
        if checked > 10 or len(results) != count:
            return f"{checked} of {len(results)} guesses were checked against the password"
        if any("retry-after" not in r[1] for r in refused):
            return "a 429 without Retry-After"
        return None

    return beside(stack, "normal-guesses", attack)


def refresh_grace_replay(stack):
    """A stolen refresh token replayed inside the grace window after its holder already
    rotated it: when the holder presents its (now voided) token, the whole family goes,
    the replayer's included."""
    user, password = "replay-victim", "the-replay-victims-password"
    stack.register(user, password)
    status, _, body = stack.login(user, password)
    if status != 200:
        return f"login: {status} {body}"
    r1 = json.loads(body)["refresh_token"]
    status, _, body = request(stack.port, "POST", "/refresh", {"refresh_token": r1})
    if status != 200:
        return f"the holder's refresh: {status} {body}"
    r2 = json.loads(body)["refresh_token"]
    status, _, body = request(stack.port, "POST", "/refresh", {"refresh_token": r1})
    if status != 200:
        return f"the replay within the grace window: {status} {body}"
    r3 = json.loads(body)["refresh_token"]
    status, _, _ = request(stack.port, "POST", "/refresh", {"refresh_token": r2})
    if status != 401:
        return f"the voided successor was accepted ({status})"
    status, _, _ = request(stack.port, "POST", "/refresh", {"refresh_token": r3})
    if status != 401:
        return f"the replayer's token still works ({status}) after the reuse was seen"
    return None


def host_injection(stack):
    """Discovery with a forged `Host` (and forwarded host): every URL from the public URL."""
    for path in ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"):
        status, _, body = request(
            stack.port,
            "GET",
            path,
            headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"},
        )
        if status != 200:
            return f"{path}: {status}"
        if "evil.example" in body:
            return f"{path} names the forged host: {body[:200]}"
        urls = [v for v in json.loads(body).values() if isinstance(v, str) and "://" in v]
        if not urls or any(not u.startswith("http://localhost:8080") for u in urls):
            return f"{path}: URLs not from the public URL: {urls}"
    return None


# --- oversized and malformed -------------------------------------------------------------


def malformed_everything(stack):
    """Oversized and malformed requests: each a 4xx JSON answer of the right status; the
    service keeps serving."""
    big = "x" * (40 * 1024)
    cases = [
        ("GET", "/", None, {"X-Big": big}, 431),
        ("POST", "/login", "{" * 10, {"Content-Type": "application/json"}, 400),
        ("POST", "/login", '{"username": 1, "password": []}', {"Content-Type": "application/json"}, 400),
        ("POST", "/login", "username=a", {"Content-Type": "application/x-www-form-urlencoded"}, 415),
        ("POST", "/login", "x" * (2 * 1024 * 1024), {"Content-Type": "application/json"}, 413),
        ("POST", "/login", '{"username": "\u0000", "password": "\ud800"}'.encode("utf-8", "surrogatepass"),
         {"Content-Type": "application/json"}, 400),
        ("GET", "/protected", None, {"x-access-token": "a" * 20000}, 403),
        ("GET", "/protected", None, {"x-access-token": "e30.e30.e30"}, 403),
        ("GET", "/protected", None, {"Authorization": "Bearer ....."}, 403),
        ("GET", "/protected", None, {"x-access-token": "eyJhbGciOiJub25lIn0.eyJ1c2VyIjoiYWRtaW4ifQ."}, 403),
        ("DELETE", "/login", None, {}, 405),
        ("GET", "/nowhere/" + "a" * 4000, None, {}, 404),
    ]

    def attack():
        for method, path, body, headers, expected in cases:
            try:
                status, _, text = request(stack.port, method, path, body=body, headers=headers)
            except OSError as e:
                return f"{method} {path[:30]}: {e}"
            if status != expected or json_message(text) is None:
                return f"{method} {path[:30]} {list(headers)}: {status} {text[:120]!r}, expected {expected} JSON"
        return None

    return beside(stack, "normal-malformed", attack)
