"""Verifies the DSSE envelope closing a flashtrail export with python3-cryptography, code we did not write.

usage: verify_dsse.py EXPORT.ndjson PUBLIC_KEY_HEX
Prints the statement's predicate type and content digest; exits 1 when the signature does not verify.
"""
import base64
import json
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def pae(payload_type: bytes, body: bytes) -> bytes:
    # DSSE v1 pre-authentication encoding, written from the spec.
    return b"DSSEv1 %d %s %d %s" % (len(payload_type), payload_type, len(body), body)


def main() -> int:
    path, key_hex = sys.argv[1], sys.argv[2]
    with open(path, "rb") as f:
        last = f.read().rstrip(b"\n").split(b"\n")[-1]
    record = json.loads(last)
    envelope = record["envelope"]
    body = base64.b64decode(envelope["payload"])
    signature = base64.b64decode(envelope["signatures"][0]["sig"])
    key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(key_hex))
    try:
        key.verify(signature, pae(envelope["payloadType"].encode(), body))
    except InvalidSignature:
        print("FAIL signature does not verify", file=sys.stderr)
        return 1
    statement = json.loads(body)
    print(statement["predicateType"], statement["predicate"]["content"]["sha256"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
