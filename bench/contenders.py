"""What the benchmarks run against: nginx's and HAProxy's configurations, the tokens each
contender checks (HS256 for HAProxy, EdDSA minted by the auth-service, RS256 signed here),
the gateway's environment, and the wrk scripts that rotate tokens or reconnect."""

import base64
import hashlib
import hmac
import json
import os
import subprocess
import time

from harness import (HS256_SECRET, PORTS, REQUESTS_PER_CONNECTION, RS256_AUDIENCE,
                     RS256_ISSUER, TARGET)


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
