"""RS256 tokens for the benchmarks, with nothing but the standard library and openssl: an
RSA key made by `openssl genpkey`, its numbers read back from `openssl pkey -text`, and
PKCS#1 v1.5 signatures computed here (RFC 8017, section 8.2; the CRT form). This is a
benchmark's token factory, not a signer for anything real: it has no side-channel
defences and needs none.

    key = RsaKey.generate(workdir)
    token = key.sign({"sub": "...", ...})
    key.jwks("bench-rsa")      # the public key as a JWKS document
    key.public_pem             # path of the public key, for HAProxy's jwt_verify
"""

import base64
import hashlib
import json
import os
import re
import subprocess

# DER of the SHA-256 DigestInfo prefix (RFC 8017, section 9.2, note 1).
SHA256_PREFIX = bytes.fromhex("3031300d060960864801650304020105000420")


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int_bytes(n):
    return n.to_bytes((n.bit_length() + 7) // 8, "big")


class RsaKey:
    def __init__(self, numbers, private_pem, public_pem):
        self.n, self.e, self.d = numbers["modulus"], numbers["publicExponent"], numbers["privateExponent"]
        self.p, self.q = numbers["prime1"], numbers["prime2"]
        self.dp, self.dq, self.qinv = numbers["exponent1"], numbers["exponent2"], numbers["coefficient"]
        self.size = (self.n.bit_length() + 7) // 8
        self.private_pem, self.public_pem = private_pem, public_pem

    @classmethod
    def generate(cls, workdir, bits=2048):
        private_pem = os.path.join(workdir, "rsa.key")
        public_pem = os.path.join(workdir, "rsa.pub")
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                        f"rsa_keygen_bits:{bits}", "-out", private_pem], check=True, capture_output=True)
        subprocess.run(["openssl", "pkey", "-in", private_pem, "-pubout", "-out", public_pem],
                       check=True, capture_output=True)
        text = subprocess.run(["openssl", "pkey", "-in", private_pem, "-noout", "-text"],
                              check=True, capture_output=True, text=True).stdout
        return cls(parse_numbers(text), private_pem, public_pem)

    def sign(self, claims, kid="bench-rsa"):
        header = b64url(json.dumps({"alg": "RS256", "typ": "JWT", "kid": kid},
                                   separators=(",", ":")).encode())
        payload = b64url(json.dumps(claims, separators=(",", ":")).encode())
        signing_input = f"{header}.{payload}".encode()
        digest_info = SHA256_PREFIX + hashlib.sha256(signing_input).digest()
        padding = b"\xff" * (self.size - len(digest_info) - 3)
        m = int.from_bytes(b"\x00\x01" + padding + b"\x00" + digest_info, "big")
        # CRT: two half-size exponentiations instead of one full-size one.
        s1, s2 = pow(m, self.dp, self.p), pow(m, self.dq, self.q)
        s = s2 + self.q * ((self.qinv * (s1 - s2)) % self.p)
        return f"{header}.{payload}.{b64url(s.to_bytes(self.size, 'big'))}"

    def jwks(self, kid="bench-rsa"):
        return {"keys": [{"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
                          "n": b64url(_int_bytes(self.n)), "e": b64url(_int_bytes(self.e))}]}


def parse_numbers(text):
    """The named integers of `openssl pkey -text`: hex blocks after `name:` lines, and
    `publicExponent: 65537 (0x10001)`."""
    numbers, name, digits = {}, None, []
    for line in text.splitlines():
        match = re.match(r"^(\w+):\s*(.*)$", line)
        if match:
            if name and digits:
                numbers[name] = int("".join(digits).replace(":", ""), 16)
            name, digits = match.group(1), []
            rest = match.group(2)
            inline = re.match(r"(\d+) \(0x[0-9a-f]+\)", rest)
            if inline:
                numbers[name], name = int(inline.group(1)), None
        elif name and line.startswith(" "):
            digits.append(line.strip())
    if name and digits:
        numbers[name] = int("".join(digits).replace(":", ""), 16)
    return numbers


def _sign_range(job):
    key_numbers, issuer, audience, start, stop, exp = job
    key = RsaKey(key_numbers, None, None)
    return [key.sign({"sub": f"bench-{i}", "user": f"user{i}", "iss": issuer, "aud": audience,
                      "iat": exp - 7 * 86400, "exp": exp, "jti": f"rs-{i}"})
            for i in range(start, stop)]


def minted(cache_dir, count, issuer, audience):
    """(key, path of a file of `count` distinct RS256 tokens, one per line), made once and
    kept in `cache_dir` for a day (signing 50,000 in Python takes minutes; the tokens live
    a week)."""
    import multiprocessing
    import time
    os.makedirs(cache_dir, exist_ok=True)
    tokens_path = os.path.join(cache_dir, "tokens.txt")
    stamp = os.path.join(cache_dir, "made.json")
    wanted = {"count": count, "issuer": issuer, "audience": audience}
    private_pem = os.path.join(cache_dir, "rsa.key")
    if os.path.exists(stamp) and os.path.exists(private_pem):
        with open(stamp) as f:
            made = json.load(f)
        if made.get("wanted") == wanted and time.time() - made["at"] < 86400:
            text = subprocess.run(["openssl", "pkey", "-in", private_pem, "-noout", "-text"],
                                  check=True, capture_output=True, text=True).stdout
            return RsaKey(parse_numbers(text), private_pem, os.path.join(cache_dir, "rsa.pub")), tokens_path
    key = RsaKey.generate(cache_dir)
    numbers = {"modulus": key.n, "publicExponent": key.e, "privateExponent": key.d,
               "prime1": key.p, "prime2": key.q, "exponent1": key.dp, "exponent2": key.dq,
               "coefficient": key.qinv}
    exp = int(time.time()) + 7 * 86400
    step = 1000
    jobs = [(numbers, issuer, audience, start, min(start + step, count), exp)
            for start in range(0, count, step)]
    with multiprocessing.Pool(os.cpu_count() or 1) as pool, open(tokens_path, "w") as out:
        for chunk in pool.imap(_sign_range, jobs):
            out.write("\n".join(chunk) + "\n")
    with open(stamp, "w") as f:
        json.dump({"wanted": wanted, "at": time.time()}, f)
    return key, tokens_path
