"""Ed25519 signing and strict RFC 8032 verification, with the verdicts of flashtrail's ledger.

Signing and the group arithmetic of verification are OpenSSL's, through python3-cryptography. The rule is
the ledger's (src/crypto/ed25519.ts), whatever the OpenSSL release does by itself: S below the group order
L; the public key the canonical encoding of a point not of small order; R not of small order (OpenSSL 3.0
accepts the identity as R, 3.5 refuses it); and the cofactorless equation [S]B = R + [k]A, which OpenSSL
checks by recomputing R and comparing it byte for byte, so a non-canonical R never verifies. This is RFC
8032 / FIPS 186-5 verification, not ZIP-215.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = (-121665 * pow(121666, -1, _P)) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)


# The eight points of small order, canonically encoded.
_SMALL_ORDER_POINTS = frozenset(bytes.fromhex(h) for h in (
    "0100000000000000000000000000000000000000000000000000000000000000",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000080",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
))


def key_id_of(public_key: bytes) -> str:
    """A key id is the hex SHA-256 of the raw 32-byte public key, so one id can never name two keys."""
    return hashlib.sha256(public_key).hexdigest()


@dataclass(frozen=True)
class SigningKey:
    """An Ed25519 key as flashtrail holds it: the 32-byte RFC 8032 seed, its public key and key id."""

    secret_key: bytes
    public_key: bytes
    key_id: str

    @staticmethod
    def from_seed(seed: bytes) -> "SigningKey":
        if len(seed) != 32:
            raise ValueError("an Ed25519 secret key (RFC 8032 seed) is 32 bytes")
        public = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return SigningKey(bytes(seed), public, key_id_of(public))

    @staticmethod
    def generate() -> "SigningKey":
        return SigningKey.from_seed(os.urandom(32))

    def sign(self, message: bytes) -> bytes:
        return Ed25519PrivateKey.from_private_bytes(self.secret_key).sign(message)

    def __repr__(self) -> str:  # never print the secret half
        return f"SigningKey(key_id={self.key_id!r})"


def _decode_point(encoded: bytes) -> tuple[int, int] | None:
    """RFC 8032 §5.1.3 point decoding, refusing every non-canonical encoding."""
    y = int.from_bytes(encoded, "little") & ((1 << 255) - 1)
    sign = encoded[31] >> 7
    if y >= _P:
        return None
    u = (y * y - 1) % _P
    v = (_D * y * y + 1) % _P
    x = (u * pow(v, 3, _P) * pow(u * pow(v, 7, _P), (_P - 5) // 8, _P)) % _P
    vx2 = v * x * x % _P
    if vx2 == (-u) % _P:
        x = x * _SQRT_M1 % _P
    elif vx2 != u:
        return None  # not on the curve
    if x == 0 and sign == 1:
        return None
    if x & 1 != sign:
        x = _P - x
    return x, y


def _add(p: tuple[int, int], q: tuple[int, int]) -> tuple[int, int]:
    # The complete twisted Edwards addition law for a = -1 (affine; only used for a few doublings).
    (x1, y1), (x2, y2) = p, q
    t = _D * x1 * x2 * y1 * y2 % _P
    return (x1 * y2 + y1 * x2) * pow(1 + t, -1, _P) % _P, (y1 * y2 + x1 * x2) * pow(1 - t, -1, _P) % _P


def is_acceptable_public_key(public_key: bytes) -> bool:
    """The canonical encoding of a curve point that is not of small order ([8]A is not the identity)."""
    if len(public_key) != 32:
        return False
    point = _decode_point(public_key)
    if point is None:
        return False
    for _ in range(3):
        point = _add(point, point)
    return point != (0, 1)


def verify(signature: bytes, message: bytes, public_key: bytes) -> bool:
    """Strict RFC 8032 Ed25519 verification; never raises for bad input, answers False."""
    if len(signature) != 64 or len(public_key) != 32:
        return False
    if int.from_bytes(signature[32:], "little") >= _L or signature[:32] in _SMALL_ORDER_POINTS:
        return False
    if not is_acceptable_public_key(public_key):
        return False
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
        return True
    except (InvalidSignature, ValueError):
        return False
