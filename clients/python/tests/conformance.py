"""Answers a conformance request from test/clients.int.test.ts, which holds the answers to the ledger's own.

usage: conformance.py REQUEST.json   (prints one JSON object of answers)
  numbers:      IEEE 754 bit patterns (hex)      → the RFC 8785 form of each double, or null when refused
  canonicalize: JSON texts                       → each parsed by this client and canonicalized, or null
  publicKeys:   32-byte encodings (hex)          → acceptable as Ed25519 public keys?
  signatures:   {publicKey, message, signature}  → strict verification verdicts
  seeds:        32-byte RFC 8032 seeds (hex)     → their public keys
"""
import json
import struct
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flashtrail_client import CanonicalizationError, SigningKey, canonicalize, is_acceptable_public_key, verify  # noqa: E402
from flashtrail_client.events import parse_json  # noqa: E402


def canonical_or_none(thunk):
    try:
        return thunk()
    except (CanonicalizationError, ValueError):
        return None


def main() -> int:
    request = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    answers = {
        "numbers": [canonical_or_none(lambda h=h: canonicalize(struct.unpack(">d", bytes.fromhex(h))[0])) for h in request["numbers"]],
        "canonicalize": [canonical_or_none(lambda t=t: canonicalize(parse_json(t))) for t in request["canonicalize"]],
        "publicKeys": [is_acceptable_public_key(bytes.fromhex(k)) for k in request["publicKeys"]],
        "signatures": [verify(bytes.fromhex(s["signature"]), bytes.fromhex(s["message"]), bytes.fromhex(s["publicKey"])) for s in request["signatures"]],
        "seeds": [SigningKey.from_seed(bytes.fromhex(s)).public_key.hex() for s in request["seeds"]],
    }
    sys.stdout.write(json.dumps(answers, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
