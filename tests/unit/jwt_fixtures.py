#!/usr/bin/python3
"""tests/unit/jwt_fixtures.py — keys and tokens for tests/unit/jwt_test.cpp,
minted by an implementation independent of lb's: Debian's python3-jwt (PyJWT)
on python3-cryptography. Run with /usr/bin/python3 (the Debian interpreter
that has those packages):

    /usr/bin/python3 tests/unit/jwt_fixtures.py OUTDIR

writes into OUTDIR
  jwks.json      the public keys lb trusts (RSA 2048 x3, EC P-256, EC P-384,
                 Ed25519, oct), as PyJWT's to_jwk() writes them (EC
                 coordinates padded to full size, see jwk())
  secret.txt     a 64-byte HMAC secret followed by one newline (secret_file)
  cases.json     {"now": N, "cases": [{"name", "set", "token", "expect",
                 "claims"?}, ...], "bad_jwks": [{"name", "jwks", "expect"}]}
                 "set" is "jwks" or "secret" (which verifier checks the
                 token), "expect" is "ok" or a substring of lb's error,
                 "claims" maps claim names to claim_as_string() results
                 (null: absent).

Every time claim is relative to the fixed NOW below, and the C++ test passes
the same NOW to verify(), so results never depend on the clock.

    /usr/bin/python3 tests/unit/jwt_fixtures.py --fuzz-seeds DIR

writes seed tokens for tests/fuzz/fuzz_jwt.cpp into DIR, signed by fresh
keys, and prints their public JWKS (to paste into fuzz_jwt.cpp as kJwks).
"""
import base64
import hashlib
import hmac
import json
import os
import sys

import jwt
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, HMACAlgorithm, OKPAlgorithm, RSAAlgorithm

NOW = 1700000000
ISSUER = "https://issuer.example"
AUDIENCE = "lb-api"
LEEWAY = 30  # what the C++ policy uses

RSA_ALGS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"]
HS_ALGS = ["HS256", "HS384", "HS512"]


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(obj):
    return b64(json.dumps(obj, separators=(",", ":")).encode())


EC_COORDINATE_BYTES = {"P-256": 32, "P-384": 48, "P-521": 66}


def jwk(algorithm, key, **extra):
    out = json.loads(algorithm.to_jwk(key))
    if out.get("kty") == "EC":
        # PyJWT 2.6 (Debian's) writes EC coordinates as minimal integers, so
        # about one key in 128 gets a 47-byte x or y. RFC 7518 6.2.1.2 wants
        # the full field size, and lb refuses anything else; pad them here
        # so the fixtures are valid keys every run, not 127 runs in 128.
        size = EC_COORDINATE_BYTES[out["crv"]]
        for name in ("x", "y"):
            raw = base64.urlsafe_b64decode(out[name] + "=" * (-len(out[name]) % 4))
            out[name] = b64(raw.rjust(size, b"\0"))
    if "use" in extra:
        out.pop("key_ops", None)  # RFC 7517 4.3: not both "use" and "key_ops"
    out.update(extra)
    return out


def base_claims(**changes):
    claims = {
        "sub": "user-1", "iss": ISSUER, "aud": AUDIENCE, "iat": NOW - 60,
        "nbf": NOW - 60, "exp": NOW + 3600, "n": 42, "admin": True,
        "roles": ["a", "b"], "ratio": 1.5, "name": "Zo\u00eb",
    }
    for k, v in changes.items():
        if v is None:
            claims.pop(k, None)
        else:
            claims[k] = v
    return claims


BASE_EXPECTED = {
    "sub": "user-1", "n": "42", "admin": "true", "roles": '["a","b"]',
    "ratio": "1.5", "name": "Zo\u00eb", "iss": ISSUER, "missing": None,
}


def hs_raw(secret, header, payload_bytes, digest=hashlib.sha256):
    """A token HMAC-signed by hand: PyJWT refuses a PEM as HMAC secret (its
    own algorithm-confusion guard), so the attack tokens are built here."""
    signing_input = b64json(header) + "." + b64(payload_bytes)
    mac = hmac.new(secret, signing_input.encode(), digest).digest()
    return signing_input + "." + b64(mac)


def retail(token, new_last):
    return token[:-1] + new_last


def truncate(token, nbytes):
    """Drops the signature's last `nbytes` bytes (re-encoded canonically, so
    the refusal is the signature's, not the encoding's)."""
    head, sig = token.rsplit(".", 1)
    raw = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
    return head + "." + b64(raw[:-nbytes])


def non_canonical(token):
    """Sets trailing bits the last base64url character must leave zero."""
    sig = token.rsplit(".", 1)[1]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    spare = {2: 4, 3: 2}[len(sig) % 4]  # unused bits in the last character
    v = alphabet.index(sig[-1])
    assert v & ((1 << spare) - 1) == 0
    return retail(token, alphabet[v | 1])


def main(out):
    rsa1 = rsa.generate_private_key(65537, 2048)
    rsa_enc = rsa.generate_private_key(65537, 2048)
    rsa_ps = rsa.generate_private_key(65537, 2048)
    rsa_other = rsa.generate_private_key(65537, 2048)  # not in the JWKS
    p256 = ec.generate_private_key(ec.SECP256R1())
    p384 = ec.generate_private_key(ec.SECP384R1())
    ed = ed25519.Ed25519PrivateKey.generate()
    ed_attacker = ed25519.Ed25519PrivateKey.generate()
    oct_key = os.urandom(64)
    secret = b"s3cr3t-" + b64(os.urandom(48)).encode()[:57]  # 64 printable bytes
    assert len(secret) == 64

    keys = [
        jwk(RSAAlgorithm, rsa1.public_key(), kid="rsa1", use="sig"),
        jwk(RSAAlgorithm, rsa_enc.public_key(), kid="rsa-enc", use="enc"),
        jwk(RSAAlgorithm, rsa_ps.public_key(), kid="rsa-ps", alg="PS256"),
        jwk(ECAlgorithm, p256.public_key(), kid="ec256"),
        jwk(ECAlgorithm, p384.public_key(), kid="ec384"),
        jwk(OKPAlgorithm, ed.public_key(), kid="ed1"),
        jwk(HMACAlgorithm, oct_key, kid="oct1"),
    ]
    with open(os.path.join(out, "jwks.json"), "w") as f:
        json.dump({"keys": keys}, f, indent=1)
    with open(os.path.join(out, "secret.txt"), "wb") as f:
        f.write(secret + b"\n")

    signer = {"RS": rsa1, "PS": rsa1, "ES256": p256, "ES384": p384, "EdDSA": ed, "HS": oct_key}
    kid_of = {"RS": "rsa1", "PS": "rsa1", "ES256": "ec256", "ES384": "ec384", "EdDSA": "ed1", "HS": "oct1"}

    def family(alg):
        return alg[:2] if alg[:2] in ("RS", "PS", "HS") else alg

    def mint(alg, claims=None, kid="default", key=None, headers=None, **changes):
        payload = claims if claims is not None else base_claims(**changes)
        h = dict(headers or {})
        if kid == "default":
            kid = kid_of[family(alg)]
        if kid is not None:
            h["kid"] = kid
        k = key if key is not None else signer[family(alg)]
        if isinstance(payload, bytes):
            return jwt.api_jws.encode(payload, k, algorithm=alg, headers=h)
        return jwt.encode(payload, k, algorithm=alg, headers=h)

    cases = []

    def case(name, token, expect, claims=None, key_set="jwks"):
        c = {"name": name, "set": key_set, "token": token, "expect": expect}
        if claims is not None:
            c["claims"] = claims
        cases.append(c)

    # Valid: every algorithm, with and without kid.
    for alg in RSA_ALGS + ["ES256", "ES384", "EdDSA"] + HS_ALGS:
        case("valid " + alg, mint(alg), "ok", BASE_EXPECTED)
        case("valid " + alg + " without kid", mint(alg, kid=None), "ok")
    case("valid PS256 with the PS256-only key", mint("PS256", kid="rsa-ps", key=rsa_ps), "ok")
    case("valid typ at+jwt", mint("ES256", headers={"typ": "at+jwt"}), "ok")
    case("valid aud array", mint("RS256", aud=["other", AUDIENCE]), "ok")
    case("valid without exp and nbf", mint("EdDSA", exp=None, nbf=None), "ok")
    case("valid exp within leeway", mint("RS256", exp=NOW - LEEWAY + 1), "ok")
    case("valid nbf within leeway", mint("RS256", nbf=NOW + LEEWAY), "ok")
    case("valid fractional exp", mint("HS256", exp=NOW - LEEWAY + 0.5), "ok")
    case("expired fractional exp", mint("HS256", exp=NOW - LEEWAY - 0.5), "token expired")
    case("valid jku header ignored", mint("RS256", headers={"jku": "https://evil.example/jwks"}), "ok")
    case("valid numeric sub", mint("HS256", sub=123456789012), "ok", {"sub": "123456789012"})
    case("valid object claim", mint("HS256", ctx={"b": 1, "a": [True, None]}), "ok",
         {"ctx": '{"a":[true,null],"b":1}'})

    # Time.
    case("expired", mint("RS256", exp=NOW - LEEWAY - 1), "token expired")
    case("expired exactly at leeway", mint("ES256", exp=NOW - LEEWAY), "token expired")
    case("nbf in the future", mint("RS256", nbf=NOW + LEEWAY + 1), "not yet valid")
    case("exp a string", mint("HS256", claims=json.dumps(
        base_claims(exp=str(NOW + 3600))).encode()), '"exp" is not a number')
    case("nbf a bool", mint("HS256", claims=json.dumps(base_claims(nbf=True)).encode()),
         '"nbf" is not a number')

    # Issuer and audience.
    case("wrong iss", mint("RS256", iss="https://other.example"), "issuer")
    case("missing iss", mint("RS256", iss=None), 'no "iss"')
    case("iss a number", mint("HS256", iss=7), 'no "iss"')
    case("wrong aud", mint("ES384", aud="other"), "no accepted audience")
    case("aud array without ours", mint("ES384", aud=["x", "y"]), "no accepted audience")
    case("missing aud", mint("ES384", aud=None), 'no "aud"')
    case("aud array with a number", mint("HS256", claims=json.dumps(
        base_claims(aud=[AUDIENCE, 5])).encode()), "not a string or an array")

    # Keys and kid.
    case("kid not in the set", mint("RS256", kid="nope"), "no key with kid")
    case("kid of an EC key on RS256", mint("RS256", kid="ec256"), "no key for alg RS256")
    case("ES256 with the P-384 kid", mint("ES256", kid="ec384"), "no key for alg ES256")
    case("ES384 signed with P-256 and P-384 kid", mint("ES384", kid="ec384", key=p256), "signature does not verify")
    case("RS256 with the PS256-only key", mint("RS256", kid="rsa-ps", key=rsa_ps), "no key for alg RS256")
    case("key published for encryption", mint("RS256", kid="rsa-enc", key=rsa_enc), "no key for alg RS256")
    case("other RSA key under kid rsa1", mint("RS256", key=rsa_other), "signature does not verify")
    case("other RSA key without kid", mint("RS256", kid=None, key=rsa_other), "signature does not verify")
    case("embedded jwk of the attacker", mint("EdDSA", kid="attacker", key=ed_attacker, headers={
        "jwk": jwk(OKPAlgorithm, ed_attacker.public_key())}), "no key with kid")
    case("embedded jwk, kid of ours", mint("EdDSA", key=ed_attacker, headers={
        "jwk": jwk(OKPAlgorithm, ed_attacker.public_key())}), "signature does not verify")

    # alg none.
    case("alg none (PyJWT)", jwt.encode(base_claims(), None, algorithm="none"), "never accepted")
    unsigned = b64json({"alg": "none", "typ": "JWT"}) + "." + b64json(base_claims()) + "."
    case("alg none with a signature", unsigned + b64(b"sig"), "never accepted")
    for spelling in ("None", "NONE", "nOnE"):
        case("alg " + spelling, b64json({"alg": spelling}) + "." + b64json(base_claims()) + ".",
             "never accepted")
    case("alg none with kid", b64json({"alg": "none", "kid": "rsa1"}) + "." + b64json(base_claims()) + ".",
         "never accepted")

    # Algorithm confusion: HMAC keyed with the public key in every form a
    # confused verifier might use as the "secret".
    spki = rsa1.public_key().public_bytes(serialization.Encoding.PEM,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    pkcs1 = rsa1.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)
    ec_pem = p256.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    rsa_jwk_text = json.dumps(keys[0]).encode()
    payload = json.dumps(base_claims()).encode()
    case("confusion HS256 + RSA SPKI PEM, kid rsa1", hs_raw(spki, {"alg": "HS256", "kid": "rsa1"}, payload),
         "no key for alg HS256")
    case("confusion HS256 + RSA SPKI PEM, no kid", hs_raw(spki, {"alg": "HS256"}, payload),
         "signature does not verify")
    case("confusion HS256 + RSA PKCS1 PEM", hs_raw(pkcs1, {"alg": "HS256", "kid": "rsa1"}, payload),
         "no key for alg HS256")
    case("confusion HS256 + RSA JWK text", hs_raw(rsa_jwk_text, {"alg": "HS256", "kid": "rsa1"}, payload),
         "no key for alg HS256")
    case("confusion HS512 + EC PEM", hs_raw(ec_pem, {"alg": "HS512", "kid": "ec256"}, payload, hashlib.sha512),
         "no key for alg HS512")
    case("confusion HS256 + Ed25519 raw key",
         hs_raw(ed.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw),
                {"alg": "HS256", "kid": "ed1"}, payload), "no key for alg HS256")

    # Tampering and truncation.
    other_payload = b64json(base_claims(sub="admin"))
    for alg in ("RS256", "PS384", "ES256", "ES384", "EdDSA", "HS256"):
        h, _, s = mint(alg).split(".")
        case("tampered payload " + alg, h + "." + other_payload + "." + s, "signature does not verify")
        case("truncated signature " + alg, truncate(mint(alg), 3), "signature does not verify")
    h, p, s = mint("HS256").split(".")
    case("tampered header (kid swap keeps alg)", b64json({"alg": "HS256", "kid": "oct1", "x": 1}) + "." + p + "." + s,
         "signature does not verify")
    case("signature of another token", h + "." + p + "." + mint("HS256", sub="x").split(".")[2],
         "signature does not verify")
    case("empty signature", h + "." + p + ".", "signature does not verify")
    # ES256 signature in DER (what OpenSSL itself produces) instead of r||s.
    si = (b64json({"alg": "ES256", "kid": "ec256"}) + "." + b64json(base_claims())).encode()
    case("ES256 with a DER signature", si.decode() + "." + b64(p256.sign(si, ec.ECDSA(hashes.SHA256()))),
         "signature does not verify")

    # Encoding and structure.
    t = mint("RS256")
    h, p, s = t.split(".")
    case("bad base64: '+' in signature", h + "." + p + "." + s[:10] + "+" + s[11:], "signature is not valid base64url")
    case("bad base64: '/' in payload", h + "." + p[:5] + "/" + p[6:] + "." + s, "payload is not valid base64url")
    case("bad base64: padding on header", h + "==." + p + "." + s, "header is not valid base64url")
    case("bad base64: space in header", h[:4] + " " + h[4:] + "." + p + "." + s, "header is not valid base64url")
    case("bad base64: length 4k+1", h + "." + p + "." + "AAAAA", "signature is not valid base64url")
    case("bad base64: non-canonical trailing bits", non_canonical(t), "signature is not valid base64url")
    case("bad base64: '*' in payload", h + "." + "*" + p[1:] + "." + s, "payload is not valid base64url")
    case("extra segment", t + ".e30", "not a JWS compact token")
    case("two segments", h + "." + p, "not a JWS compact token")
    case("one segment", h, "not a JWS compact token")
    case("empty token", "", "not a JWS compact token")
    case("only dots", "..", "header is not a JSON object")
    case("JWE-like five segments", ".".join([h, "", "", p, s]), "not a JWS compact token")
    case("header a JSON array", b64json(["alg", "HS256"]) + "." + p + "." + s, "header is not a JSON object")
    case("header not JSON", b64(b"{alg:HS256}") + "." + p + "." + s, "header is not a JSON object")
    case("header with a NUL escape", b64(b'{"alg":"HS256","kid":"a\\u0000b"}') + "." + p + "." + s,
         "header is not a JSON object")
    case("header with a duplicate alg", b64(b'{"alg":"none","alg":"HS256"}') + "." + p + "." + s,
         "header is not a JSON object")
    case("header without alg", b64json({"typ": "JWT"}) + "." + p + "." + s, 'no "alg" string')
    case("header alg a number", b64json({"alg": 256}) + "." + p + "." + s, 'no "alg" string')
    case("header kid a number", hs_raw(oct_key, {"alg": "HS256", "kid": 5}, payload),
         '"kid" and "typ" must be strings')
    case("header typ an object", hs_raw(oct_key, {"alg": "HS256", "typ": {}}, payload),
         '"kid" and "typ" must be strings')
    case("unknown alg", b64json({"alg": "ES512"}) + "." + p + "." + s, "unsupported alg")
    case("alg lower case", b64json({"alg": "hs256"}) + "." + p + "." + s, "unsupported alg")
    case("crit header", mint("HS256", headers={"crit": ["exp"]}), '"crit"')
    case("payload a JSON array", mint("HS256", claims=b"[1,2]"), "payload is not a JSON object")
    case("payload not JSON", mint("HS256", claims=b"not json"), "payload is not a JSON object")
    case("payload with a duplicate sub", mint("HS256", claims=b'{"sub":"a","sub":"b"}'),
         "payload is not a JSON object")
    case("payload with trailing bytes", mint("HS256", claims=b'{"sub":"a"} x'), "payload is not a JSON object")
    case("token of 17 KiB", mint("HS256", pad="x" * (17 * 1024)), "token longer than 16384 bytes")

    # The secret_file verifier (HS* only, a kid-less set).
    for alg in HS_ALGS:
        case("secret " + alg, mint(alg, key=secret, kid=None), "ok", BASE_EXPECTED, key_set="secret")
    case("secret with a kid the set cannot name", mint("HS256", key=secret, kid="k9"), "ok", key_set="secret")
    case("secret keyed with the trailing newline", mint("HS256", key=secret + b"\n", kid=None),
         "signature does not verify", key_set="secret")
    case("secret: the JWKS oct key", mint("HS256", kid=None), "signature does not verify", key_set="secret")
    case("secret: RS256 not allowed", mint("RS256"), "alg RS256 is not allowed", key_set="secret")
    case("secret: confusion with the PEM", hs_raw(spki, {"alg": "HS256"}, payload), "signature does not verify",
         key_set="secret")

    # JWKS the loader must refuse.
    good_ec = jwk(ECAlgorithm, p256.public_key(), kid="e")
    y = base64.urlsafe_b64decode(good_ec["y"] + "==")
    off_curve = dict(good_ec, y=b64(bytes(y[:-1]) + bytes([y[-1] ^ 1])))
    small_rsa = rsa.generate_private_key(65537, 1024)
    bad_jwks = [
        ("EC point off the curve", {"keys": [off_curve]}, "point is not on curve"),
        ("RSA 1024", {"keys": [jwk(RSAAlgorithm, small_rsa.public_key(), kid="small")]}, "1024 bits"),
        ("EC x of 31 bytes", {"keys": [dict(good_ec, x=b64(base64.urlsafe_b64decode(good_ec["x"] + "==")[1:]))]},
         '"x" must be 32 bytes for P-256, got 31'),
        ("P-256 coordinates under crv P-384", {"keys": [dict(good_ec, crv="P-384")]},
         '"x" must be 48 bytes for P-384, got 32'),
        ("Ed25519 key as Ed448", {"keys": [dict(keys[5], crv="Ed448")]}, 'unsupported crv "Ed448"'),
        ("Ed25519 x of 33 bytes", {"keys": [dict(keys[5], x=b64(ed.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw) + b"\0"))]},
         '"x" must be 32 bytes for Ed25519, got 33'),
        ("RSA n padded", {"keys": [dict(keys[0], n=keys[0]["n"] + "==")]}, '"n" is not valid unpadded base64url'),
        ("second key broken", {"keys": [keys[0], dict(keys[3], kty="ECDSA")]},
         'keys[1] (kid "ec256"): unsupported kty "ECDSA"'),
    ]
    with open(os.path.join(out, "cases.json"), "w") as f:
        json.dump({"now": NOW, "cases": cases,
                   "bad_jwks": [{"name": n, "jwks": j, "expect": e} for n, j, e in bad_jwks]}, f, indent=1)


def fuzz_seeds(out):
    rsa1 = rsa.generate_private_key(65537, 2048)
    p256 = ec.generate_private_key(ec.SECP256R1())
    ed = ed25519.Ed25519PrivateKey.generate()
    oct_key = os.urandom(64)  # long enough for HS512 (RFC 7518 3.2)
    keys = [jwk(RSAAlgorithm, rsa1.public_key(), kid="r"), jwk(ECAlgorithm, p256.public_key(), kid="e"),
            jwk(OKPAlgorithm, ed.public_key(), kid="d"), jwk(HMACAlgorithm, oct_key, kid="h")]
    for k in keys:
        k.pop("key_ops", None)
    claims = {"sub": "u", "iss": "i", "aud": ["a", "b"], "exp": NOW + 3600, "nbf": NOW - 10, "n": 1}
    os.makedirs(out, exist_ok=True)
    for name, alg, key, kid in [("rs256", "RS256", rsa1, "r"), ("ps256", "PS256", rsa1, "r"),
                                ("es256", "ES256", p256, "e"), ("eddsa", "EdDSA", ed, "d"),
                                ("hs256", "HS256", oct_key, "h"), ("hs256_nokid", "HS256", oct_key, None)]:
        with open(os.path.join(out, name), "w") as f:
            f.write(jwt.encode(claims, key, algorithm=alg, headers={"kid": kid} if kid else None))
    # The fuzz target's JSON mode: 'J' + header JSON + '\n' + payload JSON.
    with open(os.path.join(out, "json_mode"), "w") as f:
        f.write('J{"alg":"HS256","kid":"h"}\n' + json.dumps(claims))
    print(json.dumps({"keys": keys}, separators=(",", ":")))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--fuzz-seeds":
        fuzz_seeds(sys.argv[2])
    elif len(sys.argv) == 2:
        main(sys.argv[1])
    else:
        sys.exit(__doc__)
