#!/usr/bin/env python3
"""The gateway as nginx's `auth_request` verifier: Debian's nginx in front of the
resource-service, asking the gateway's `/auth/verify` about every request and passing the
signed identity it answers with on to the service, which believes only that.

Starts the three built binaries and nginx on free loopback ports, logs in through the
gateway, then checks through nginx: a valid token reaches the protected route with its
user; a missing or invalid token is refused by nginx with the gateway's status and
challenge; a made-up identity sent to nginx does not get through.

Usage: scripts/nginx-forward-auth-test.py [debug|release]   (default: debug)
Installs Debian's nginx-light first if nginx is missing and this runs as root.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "attacks"))

from stack import Stack, free_port, request  # noqa: E402

NGINX_CONF = """
daemon off;
worker_processes 1;
user root;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location = /_verify {{
            internal;
            proxy_pass http://127.0.0.1:{gateway}/auth/verify;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URI $request_uri;
            proxy_set_header X-Original-Method $request_method;
        }}
        location / {{
            auth_request /_verify;
            auth_request_set $auth_user $upstream_http_x_auth_user;
            auth_request_set $auth_subject $upstream_http_x_auth_subject;
            auth_request_set $auth_roles $upstream_http_x_auth_roles;
            auth_request_set $auth_token_id $upstream_http_x_auth_token_id;
            auth_request_set $auth_signature $upstream_http_x_auth_signature;
            auth_request_set $auth_challenge $upstream_http_www_authenticate;
            add_header WWW-Authenticate $auth_challenge always;
            proxy_set_header X-Auth-User $auth_user;
            proxy_set_header X-Auth-Subject $auth_subject;
            proxy_set_header X-Auth-Roles $auth_roles;
            proxy_set_header X-Auth-Token-Id $auth_token_id;
            proxy_set_header X-Auth-Signature $auth_signature;
            proxy_pass http://127.0.0.1:{resource};
        }}
    }}
}}
"""

# Start-up budget for nginx: 100 tries of 0.05 s.
READY_TRIES = 100


def ensure_nginx():
    if shutil.which("nginx"):
        return
    if os.geteuid() != 0:
        raise SystemExit("nginx is missing: install Debian's nginx-light")
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "nginx-light"], check=True,
                   env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))


def main():
    profile = sys.argv[1] if len(sys.argv) > 1 else "debug"
    ensure_nginx()
    bin_dir = os.path.abspath(os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), profile))
    stack = Stack(bin_dir, {"GATEWAY__FORWARD_AUTH__PATH": "/auth/verify"}, name="nginx stack").start()
    tmp = tempfile.mkdtemp(prefix="nginx-forward-auth-")
    port = free_port()
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write(NGINX_CONF.format(tmp=tmp, port=port, gateway=stack.port, resource=stack.resource_port))
    nginx = subprocess.Popen(["nginx", "-c", conf, "-p", tmp], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    failures = 0

    def check(name, ok, detail=""):
        nonlocal failures
        print(("ok   " if ok else "FAIL ") + name + ("" if ok else f": {detail}"))
        failures += 0 if ok else 1

    try:
        for _ in range(READY_TRIES):
            try:
                request(port, "GET", "/", timeout=1)
                break
            except OSError:
                time.sleep(0.05)
        status, _, body = stack.login("user1", "password123")
        token = json.loads(body)["token"]

        status, _, body = request(port, "GET", "/protected", headers={"x-access-token": token})
        expected = {"message": "This is a protected route!", "user": "user1", "roles": []}
        check("a valid token reaches the service through nginx with its identity",
              (status, json.loads(body) if status == 200 else body) == (200, expected), f"{status} {body[:200]}")

        status, headers, body = request(port, "GET", "/protected")
        check("no token: nginx refuses with the gateway's status and challenge",
              status == 403 and headers.get("www-authenticate", "").startswith("Bearer"),
              f"{status} {headers.get('www-authenticate')}")

        status, headers, _ = request(port, "GET", "/protected", headers={"x-access-token": "a.b.c"})
        check("an invalid token: refused with error=\"invalid_token\"",
              status == 403 and 'error="invalid_token"' in headers.get("www-authenticate", ""),
              f"{status} {headers.get('www-authenticate')}")

        forged = {"x-access-token": token, "x-auth-user": "admin", "x-auth-roles": "admin",
                  "x-auth-signature": "v1,t=1,s=forged"}
        status, _, body = request(port, "GET", "/protected", headers=forged)
        check("identity headers a client makes up are replaced by the gateway's",
              status == 200 and json.loads(body).get("user") == "user1", f"{status} {body[:200]}")

        status, _, body = request(stack.resource_port, "GET", "/protected",
                                  headers={"x-auth-user": "user1", "x-auth-subject": "s",
                                           "x-auth-roles": "", "x-auth-token-id": "t"})
        check("the service still refuses an identity nothing signed", status in (401, 403), f"{status} {body[:120]}")
    finally:
        nginx.terminate()
        try:
            nginx.wait(timeout=10)
        except subprocess.TimeoutExpired:
            nginx.kill()
        stack.stop()
    if failures:
        print(f"nginx forward-auth test: {failures} check(s) failed; logs in {tmp} and {stack.workdir}")
        sys.exit(1)
    shutil.rmtree(tmp, ignore_errors=True)
    print("nginx forward-auth test: all checks passed")


if __name__ == "__main__":
    main()
