"""The Python client against the repository's vectors (test/vectors): RFC 8785, DSSE PAE, RFC 8032, the
strict-verification edge cases and flashtrail's golden signed events, byte for byte.

Run from clients/python: /usr/bin/python3 -m unittest discover -s tests -v
"""
from __future__ import annotations

import base64
import json
import os
import stat
import struct
import sys
import tempfile
import unittest
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flashtrail_client import (  # noqa: E402
    CanonicalizationError, EnvelopeDecodeError, EventSigner, KeyFileError, SigningKey, canonicalize, decode_untrusted_envelope,
    envelope_bytes, envelope_digest, is_acceptable_public_key, pae, read_secret_key_file, verify, verify_envelope_signature,
    write_secret_key_file,
)
from flashtrail_client.provenance import verify_inclusion, leaf_hash, node_hash  # noqa: E402

VECTORS = Path(os.environ.get("FLASHTRAIL_VECTORS", Path(__file__).resolve().parents[3] / "test" / "vectors"))


def vectors(name: str) -> dict:
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))


class Rfc8785(unittest.TestCase):
    def test_objects(self) -> None:
        for v in vectors("rfc8785-jcs.json")["objects"]:
            with self.subTest(v["name"]):
                self.assertEqual(canonicalize(json.loads(v["input"])), v["canonical"])

    def test_number_table(self) -> None:
        for v in vectors("rfc8785-jcs.json")["numbers"]:
            x = struct.unpack(">d", bytes.fromhex(v["ieee754"]))[0]
            with self.subTest(v["ieee754"]):
                if v["canonical"] is None:
                    self.assertRaises(CanonicalizationError, canonicalize, x)
                else:
                    self.assertEqual(canonicalize(x), v["canonical"])

    def test_integers_are_doubles(self) -> None:
        self.assertEqual(canonicalize([28672, -0.0, 2**53, 2**60]), "[28672,0,9007199254740992,1152921504606847000]")
        with self.assertRaises(CanonicalizationError) as refused:
            canonicalize({"n": 2**53 + 1})
        self.assertEqual(refused.exception.path, "$.n")

    def test_refusals_name_the_path(self) -> None:
        for value, path in (({"a": [1, float("nan")]}, "$.a[1]"), ({"s": "\ud800"}, "$.s"), ({"k": b"x"}, "$.k"), ({1: 2}, "$")):
            with self.subTest(path):
                with self.assertRaises(CanonicalizationError) as refused:
                    canonicalize(value)
                self.assertEqual(refused.exception.path, path)
        deep: list = []
        for _ in range(64):
            deep = [deep]
        self.assertRaises(CanonicalizationError, canonicalize, deep)
        self.assertEqual(canonicalize(deep[0]), "[" * 64 + "]" * 64)

    def test_escapes_are_ecmascript_json(self) -> None:
        self.assertEqual(canonicalize("\u0000\u001f\u007f\u2028/\"\\\b\t\n\f\r"), '"\\u0000\\u001f\u007f\u2028/\\"\\\\\\b\\t\\n\\f\\r"')


class Dsse(unittest.TestCase):
    def test_pae_vector(self) -> None:
        for v in vectors("dsse-pae.json")["vectors"]:
            self.assertEqual(pae(v["payloadType"], v["body"].encode()), v["pae"].encode())


class Ed25519(unittest.TestCase):
    def test_rfc8032(self) -> None:
        for v in vectors("rfc8032-ed25519.json")["vectors"]:
            with self.subTest(v["name"]):
                key = SigningKey.from_seed(bytes.fromhex(v["secretKey"]))
                message = bytes.fromhex(v["message"])
                self.assertEqual(key.public_key.hex(), v["publicKey"])
                self.assertEqual(key.sign(message).hex(), v["signature"])
                self.assertTrue(verify(bytes.fromhex(v["signature"]), message, key.public_key))
                self.assertFalse(verify(bytes.fromhex(v["signature"]), message + b"x", key.public_key))

    def test_strict_refuses_what_zip215_accepts(self) -> None:
        for v in vectors("strict-ed25519.json")["vectors"]:
            with self.subTest(v["name"]):
                self.assertEqual(verify(bytes.fromhex(v["signature"]), bytes.fromhex(v["message"]), bytes.fromhex(v["publicKey"])), v["strict"])

    def test_s_at_or_above_the_group_order_is_refused(self) -> None:
        key = SigningKey.generate()
        sig = key.sign(b"m")
        order = 2**252 + 27742317777372353535851937790883648493
        high = sig[:32] + (int.from_bytes(sig[32:], "little") + order).to_bytes(32, "little")
        self.assertTrue(verify(sig, b"m", key.public_key))
        self.assertFalse(verify(high, b"m", key.public_key))

    def test_small_order_and_non_canonical_keys(self) -> None:
        identity = bytes([1]) + bytes(31)
        self.assertFalse(is_acceptable_public_key(identity))
        self.assertFalse(is_acceptable_public_key(bytes(32)))  # y = 0: order 4
        p_minus_1 = (2**255 - 20).to_bytes(32, "little")  # y = -1: order 2
        self.assertFalse(is_acceptable_public_key(p_minus_1))
        self.assertFalse(is_acceptable_public_key((2**255 - 18).to_bytes(32, "little")))  # y = p + 1: non-canonical
        self.assertTrue(is_acceptable_public_key(SigningKey.generate().public_key))


class GoldenEvents(unittest.TestCase):
    """test/helpers/golden.ts: RFC 8032 TEST 1's key signing two chained events."""

    def setUp(self) -> None:
        self.golden = vectors("golden-events.json")
        self.key = SigningKey.from_seed(bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"))

    def test_key(self) -> None:
        self.assertEqual(self.key.public_key.hex(), self.golden["publicKey"])
        self.assertEqual(self.key.key_id, self.golden["keyId"])

    def test_signs_the_golden_events_byte_for_byte(self) -> None:
        signer = EventSigner(self.key, "ST-01")
        first = signer.sign(
            "UnitScanned",
            {"serial": "SN0000001", "batchId": "B-2026-03-02", "station": "ST-01", "operator": "op-Ünal",
             "productSku": "SENSOR-S3", "hardwareRevision": "rev-C", "mac": "24:0a:c4:12:34:56"},
            event_id="0b6c3b9e-5f0f-4a43-9d2c-8f1e2a7c4d10",
            occurred_at=datetime(2026, 3, 2, 8, 15, 30, 125000, tzinfo=timezone.utc),
        )
        second = signer.sign(  # prev comes from the signer's own head of unit-SN0000001
            "BootloaderWritten",
            {"serial": "SN0000001", "imageSha256": "a" * 64, "version": "bl-2.4.1", "sizeBytes": 28672,
             "signingKeyRef": "SENSOR-S3-sb-key", "signingKeyDigest": "b" * 64},
            event_id="5d0e8c57-1f62-4b6e-bb57-3c5f2f8a9e21",
            occurred_at=datetime(2026, 3, 2, 8, 15, 41, tzinfo=timezone.utc),
        )
        for signed, golden in zip((first, second), self.golden["events"]):
            self.assertEqual(signed.envelope, golden["envelope"])
            self.assertEqual(envelope_bytes(signed.envelope).decode(), golden["canonicalEnvelope"])
            self.assertEqual(signed.digest, golden["digest"])
            self.assertEqual(signed.stream, "unit-SN0000001")
        self.assertIsNone(first.event["prev"])
        self.assertEqual(second.event["prev"], first.digest)

    def test_decodes_and_verifies_the_golden_envelopes(self) -> None:
        for golden in self.golden["events"]:
            decoded = decode_untrusted_envelope(golden["envelope"])
            self.assertEqual(decoded.digest, golden["digest"])
            self.assertEqual(envelope_digest(golden["envelope"]), golden["digest"])
            self.assertTrue(verify_envelope_signature(golden["envelope"], self.key.public_key))

    def test_decoder_refuses_other_spellings(self) -> None:
        envelope = self.golden["events"][0]["envelope"]
        payload = base64.b64decode(envelope["payload"])
        spaced = json.dumps(json.loads(payload), ensure_ascii=False).encode()
        cases = [
            ("PAYLOAD_NOT_CANONICAL", dict(envelope, payload=base64.b64encode(spaced).decode())),
            ("ENVELOPE_INVALID", dict(envelope, signatures=envelope["signatures"] * 2)),
            ("ENVELOPE_INVALID", dict(envelope, payload=envelope["payload"].rstrip("="))),  # base64 without its padding
        ]
        for code, bad in cases:
            with self.subTest(code):
                with self.assertRaises(EnvelopeDecodeError) as refused:
                    decode_untrusted_envelope(bad)
                self.assertEqual(refused.exception.code, code)


class KeyFiles(unittest.TestCase):
    def test_round_trip_mode_and_no_overwrite(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "st.key")
            key = SigningKey.generate()
            write_secret_key_file(path, key, "ST-01")
            self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
            self.assertEqual(read_secret_key_file(path), key)
            self.assertRaises(KeyFileError, write_secret_key_file, path, SigningKey.generate())
            os.chmod(path, 0o644)
            with self.assertRaises(KeyFileError) as refused:
                read_secret_key_file(path)
            self.assertIn("chmod 600", str(refused.exception))


class Merkle(unittest.TestCase):
    def test_inclusion_in_a_three_leaf_tree(self) -> None:
        leaves = [leaf_hash(bytes([i])) for i in range(3)]
        root = node_hash(node_hash(leaves[0], leaves[1]), leaves[2])
        self.assertTrue(verify_inclusion(leaves[2], 2, 3, [node_hash(leaves[0], leaves[1])], root))
        self.assertTrue(verify_inclusion(leaves[0], 0, 3, [leaves[1], leaves[2]], root))
        self.assertFalse(verify_inclusion(leaves[0], 1, 3, [leaves[1], leaves[2]], root))


if __name__ == "__main__":
    unittest.main()
