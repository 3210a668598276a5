"""DSSE v1 envelopes (https://github.com/secure-systems-lab/dsse/blob/master/protocol.md) as flashtrail signs them."""
from __future__ import annotations

import base64
import binascii
import hashlib

from . import ed25519
from .jcs import canonical_bytes


def pae(payload_type: str, body: bytes) -> bytes:
    """PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body; lengths in bytes, ASCII decimal."""
    type_bytes = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(type_bytes), type_bytes, len(body), body)


def b64encode(data: bytes) -> str:
    """Standard base64 with padding (RFC 4648 §4), the only form flashtrail accepts."""
    return base64.b64encode(data).decode("ascii")


def b64decode_canonical(text: str) -> bytes:
    """Standard padded base64, refusing every other spelling of the same bytes (stray bits, no padding, whitespace)."""
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("expected canonical standard base64 with padding") from None
    if b64encode(data) != text:
        raise ValueError("expected canonical standard base64 with padding")
    return data


def sign_envelope(payload_type: str, body: bytes, key: ed25519.SigningKey) -> dict:
    signature = key.sign(pae(payload_type, body))
    return {"payloadType": payload_type, "payload": b64encode(body), "signatures": [{"keyid": key.key_id, "sig": b64encode(signature)}]}


def verify_envelope_signature(envelope: dict, public_key: bytes) -> bool:
    """Exactly one signature, over PAE of the decoded payload, strict RFC 8032."""
    signatures = envelope.get("signatures")
    if not isinstance(signatures, list) or len(signatures) != 1:
        return False
    try:
        body = b64decode_canonical(envelope["payload"])
        signature = b64decode_canonical(signatures[0]["sig"])
    except (ValueError, KeyError, TypeError):
        return False
    return ed25519.verify(signature, pae(envelope["payloadType"], body), public_key)


def envelope_bytes(envelope: dict) -> bytes:
    """The bytes that identify a signed envelope: its RFC 8785 form. The stream's hash chain and the
    ledger's Merkle log both hash these bytes."""
    return canonical_bytes(
        {
            "payloadType": envelope["payloadType"],
            "payload": envelope["payload"],
            "signatures": [{"keyid": s["keyid"], "sig": s["sig"]} for s in envelope["signatures"]],
        }
    )


def envelope_digest(envelope: dict) -> str:
    """Hex SHA-256 of the envelope bytes: the `prev` of the next event in the same stream."""
    return hashlib.sha256(envelope_bytes(envelope)).hexdigest()
