"""Standard client libraries verify a freshly issued token using only what the published
metadata says: PyJWT's PyJWKClient and joserfc, from PyPI.

Usage: python3 scripts/oidc-client-check.py <gateway base URL>   (the stack must be running)
Run by scripts/smoke-local.sh in a virtual environment it makes under target/.
"""

import json
import sys
import urllib.request

import jwt
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet

base = sys.argv[1].rstrip("/")
# The API audience is the resource's name, not the issuer's; clients are configured with it.
AUDIENCE = "api"
failures = 0


def check(name, ok, detail=""):
    global failures
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else f": {detail}"))
    failures += 0 if ok else 1


def get_json(url):
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


oauth = get_json(f"{base}/.well-known/oauth-authorization-server")
oidc = get_json(f"{base}/.well-known/openid-configuration")
issuer = oauth["issuer"]
check("both documents name the same issuer", oidc["issuer"] == issuer, f"{oidc} vs {oauth}")
check("the issuer is an absolute URL", issuer.startswith(("http://", "https://")), issuer)
check("jwks_uri is absolute, under the issuer", oauth["jwks_uri"].startswith(issuer + "/"),
      oauth["jwks_uri"])
check("RFC 8414's required response_types_supported is there",
      "response_types_supported" in oauth, oauth)

request = urllib.request.Request(
    f"{base}/login", method="POST", headers={"Content-Type": "application/json"},
    data=json.dumps({"username": "user1", "password": "password123"}).encode())
with urllib.request.urlopen(request, timeout=5) as response:
    token = json.load(response)["token"]

# PyJWT: the key by the token's kid from jwks_uri, its algorithm from the JWK.
signing_key = jwt.PyJWKClient(oauth["jwks_uri"]).get_signing_key_from_jwt(token)
claims = jwt.decode(token, signing_key.key, algorithms=[signing_key.algorithm_name],
                    audience=AUDIENCE, issuer=issuer)
check("PyJWT verifies the token", claims["user"] == "user1", claims)
tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
try:
    jwt.decode(tampered, signing_key.key, algorithms=[signing_key.algorithm_name],
               audience=AUDIENCE, issuer=issuer)
    check("PyJWT refuses a tampered token", False, "accepted")
except jwt.InvalidTokenError:
    check("PyJWT refuses a tampered token", True)

# joserfc: the whole key set, the algorithms the keys declare, then the claims.
key_set = get_json(oauth["jwks_uri"])
algorithms = sorted({key["alg"] for key in key_set["keys"]})
decoded = jose_jwt.decode(token, KeySet.import_key_set(key_set), algorithms=algorithms)
registry = jose_jwt.JWTClaimsRegistry(
    iss={"essential": True, "value": issuer}, aud={"essential": True, "value": AUDIENCE},
    exp={"essential": True}, sub={"essential": True})
try:
    registry.validate(decoded.claims)
    check("joserfc verifies the token and its claims", decoded.claims["user"] == "user1")
except Exception as error:  # joserfc raises its own error types per claim
    check("joserfc verifies the token and its claims", False, repr(error))

sys.exit(1 if failures else 0)
