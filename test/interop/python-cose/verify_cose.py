"""An independent verifier of flashtrail's SCITT objects, written from the RFCs alone (not from flashtrail's code):

  RFC 9052  COSE_Sign1 and its Sig_structure          RFC 9162 §2.1.3.2  Merkle inclusion proofs
  RFC 9942  COSE Receipts, RFC9162_SHA256 (vds 1)     RFC 9943           SCITT Signed and Transparent Statements
  RFC 9053  OKP keys, EdDSA                           docs/format.md §4, §13  which leaf an entry is

with Debian's python3-cbor2 and python3-cryptography.

usage:
  verify_cose.py receipt   --keys KEYSET.cbor --entry ENTRY RECEIPT.cose
  verify_cose.py statement --keys KEYSET.cbor [--provenance DOC.json] STATEMENT.cose

KEYSET.cbor is the COSE_KeySet served at /.well-known/scitt-keys. Prints one JSON object on stdout:
{"ok": true, ...} and exit 0, or {"ok": false, "error": "..."} and exit 1.
"""
import argparse
import base64
import hashlib
import json
import sys

import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

# RFC 9052 / 9053 / 9597 / 9942 / draft-ietf-cose-hash-envelope labels.
ALG, KID, CWT_CLAIMS = 1, 4, 15
RECEIPTS, VDS, VDP = 394, 395, 396
PAYLOAD_HASH_ALG, PREIMAGE_CONTENT_TYPE = 258, 259
EDDSA, SHA256 = -8, -16
RFC9162_SHA256, INCLUSION_PROOFS = 1, -1
ISS, SUB = 1, 2
ENTRY_LABEL = "flashtrail-entry"


class Refused(Exception):
    pass


def load_keys(path):
    with open(path, "rb") as f:
        key_set = cbor2.loads(f.read())
    keys = {}
    for key in key_set:
        # RFC 9053 §7.2: kty 1 = OKP, crv (-1) 6 = Ed25519, x (-2) the public key; kid is label 2, alg label 3.
        if key.get(1) == 1 and key.get(-1) == 6 and key.get(3) == EDDSA:
            keys[bytes(key[2])] = Ed25519PublicKey.from_public_bytes(bytes(key[-2]))
    if not keys:
        raise Refused("the key set holds no EdDSA Ed25519 key")
    return keys


def decode_sign1(data, what):
    item = cbor2.loads(data)
    if not isinstance(item, cbor2.CBORTag) or item.tag != 18:
        raise Refused(f"{what} is not a tagged COSE_Sign1 (tag 18)")
    if not isinstance(item.value, list) or len(item.value) != 4:
        raise Refused(f"{what} is not a COSE_Sign1 array of four")
    protected_bytes, unprotected, payload, signature = item.value
    protected = cbor2.loads(protected_bytes) if protected_bytes else {}
    if not isinstance(protected, dict) or not isinstance(unprotected, dict):
        raise Refused(f"{what} has malformed headers")
    return protected_bytes, protected, unprotected, payload, signature


def verify_signature(keys, protected_bytes, protected, payload, signature, what):
    if protected.get(ALG) != EDDSA:
        raise Refused(f"{what}: alg is not EdDSA")
    key = keys.get(bytes(protected.get(KID, b"")))
    if key is None:
        raise Refused(f"{what}: kid is not a key of the key set")
    # RFC 9052 §4.4: Sig_structure = ["Signature1", body_protected, external_aad, payload].
    to_be_signed = cbor2.dumps(["Signature1", protected_bytes, b"", payload])
    try:
        key.verify(signature, to_be_signed)
    except InvalidSignature:
        raise Refused(f"{what}: the signature does not verify")


def node(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_inclusion_proof(leaf, index, size, path):
    # RFC 9162 §2.1.3.2, computing the root rather than comparing it.
    if index >= size:
        raise Refused("leaf_index is not below tree_size")
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            raise Refused("the inclusion path is too long")
        if fn % 2 == 1 or fn == sn:
            r = node(p, r)
            while fn % 2 == 0 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise Refused("the inclusion path is too short")
    return r


def verify_receipt(keys, receipt, entry):
    protected_bytes, protected, unprotected, payload, signature = decode_sign1(receipt, "the receipt")
    if protected.get(VDS) != RFC9162_SHA256:
        raise Refused("the receipt's verifiable data structure is not RFC9162_SHA256")
    if payload is not None:
        raise Refused("the receipt's payload is not detached")
    claims = protected.get(CWT_CLAIMS, {})
    proofs = unprotected.get(VDP, {}).get(INCLUSION_PROOFS, [])
    if len(proofs) != 1:
        raise Refused("the receipt does not carry exactly one inclusion proof")
    size, index, path = cbor2.loads(proofs[0])
    leaf = hashlib.sha256(b"\x00" + entry).digest()
    root = root_from_inclusion_proof(leaf, index, size, [bytes(h) for h in path])
    # Detached payload: the verifier places the root it computed into the Sig_structure (RFC 9942 §5.2).
    verify_signature(keys, protected_bytes, protected, root, signature, "the receipt")
    return {"issuer": claims.get(ISS), "index": index, "size": size, "root": root.hex()}


def verify_statement(keys, statement, provenance):
    protected_bytes, protected, unprotected, payload, signature = decode_sign1(statement, "the statement")
    claims = protected.get(CWT_CLAIMS, {})
    if not isinstance(claims.get(ISS), str) or not isinstance(claims.get(SUB), str):
        raise Refused("the statement has no iss and sub CWT claims (RFC 9943)")
    if protected.get(PAYLOAD_HASH_ALG) != SHA256 or not isinstance(payload, bytes) or len(payload) != 32:
        raise Refused("the statement is not a SHA-256 hash envelope")
    verify_signature(keys, protected_bytes, protected, payload, signature, "the statement")
    if provenance is not None and hashlib.sha256(provenance).digest() != payload:
        raise Refused("the provenance document's SHA-256 is not the statement's payload")

    receipts = unprotected.get(RECEIPTS, [])
    entry = unprotected.get(ENTRY_LABEL)
    if not receipts or not isinstance(entry, bytes):
        raise Refused("the statement carries no receipt or no entry")
    # The entry is the ledger's registration event: a DSSE envelope naming the registered statement's SHA-256,
    # the statement with its unprotected header emptied.
    registered = cbor2.dumps(cbor2.CBORTag(18, [protected_bytes, {}, payload, signature]))
    envelope = json.loads(entry)
    event = json.loads(base64.b64decode(envelope["payload"], validate=True))
    if event.get("type") != "ScittStatementRegistered" or event.get("source", {}).get("kind") != "ledger":
        raise Refused("the entry is not the ledger's ScittStatementRegistered")
    if event["data"].get("statementSha256") != hashlib.sha256(registered).hexdigest():
        raise Refused("the entry registers another statement")
    if event["data"].get("serial") != claims[SUB]:
        raise Refused("the entry registers a statement about another subject")
    key = keys.get(bytes.fromhex(envelope["signatures"][0]["keyid"]))
    if key is None or len(envelope["signatures"]) != 1:
        raise Refused("the entry is not signed by a key of the key set")
    body = base64.b64decode(envelope["payload"], validate=True)
    payload_type = envelope["payloadType"].encode()
    try:
        key.verify(base64.b64decode(envelope["signatures"][0]["sig"], validate=True), b"DSSEv1 %d %s %d %s" % (len(payload_type), payload_type, len(body), body))
    except InvalidSignature:
        raise Refused("the entry's DSSE signature does not verify")
    verified = [verify_receipt(keys, r, entry) for r in receipts]
    return {"issuer": claims[ISS], "subject": claims[SUB], "provenanceSha256": payload.hex(), "receipt": verified[0]}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["receipt", "statement"])
    parser.add_argument("file")
    parser.add_argument("--keys", required=True)
    parser.add_argument("--entry")
    parser.add_argument("--provenance")
    args = parser.parse_args()
    try:
        keys = load_keys(args.keys)
        with open(args.file, "rb") as f:
            data = f.read()
        if args.kind == "receipt":
            with open(args.entry, "rb") as f:
                result = verify_receipt(keys, data, f.read())
        else:
            provenance = None
            if args.provenance:
                with open(args.provenance, "rb") as f:
                    provenance = f.read()
            result = verify_statement(keys, data, provenance)
    except (Refused, ValueError, KeyError, TypeError, IndexError, cbor2.CBORDecodeError) as error:
        print(json.dumps({"ok": False, "error": f"{type(error).__name__}: {error}"}))
        return 1
    print(json.dumps({"ok": True, **result}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
