"""Offline verification of a unit's provenance document (`flashtrail.provenance.v1`), trusting nothing but
the ledger's pinned verifier key. The same ordered steps and the same stable error codes as the ledger's
own verifier (src/verify/provenance.ts), so that both give the same verdict on the same document:

  format → checkpoint → envelopes → trust → stations → unit → inclusion

The ledger key signs the checkpoint (a C2SP signed note) and the AdminKeysTrusted records; the
administrator keys they name sign the station key registrations; those keys sign the unit's events, which
must chain by `prev`; every envelope must be its leaf of the checkpointed RFC 6962 tree (C2SP tlog-proof).
A key counts for an event when its registration precedes the event in the log and no revocation does.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Callable

from . import dsse, ed25519
from .events import DecodedEvent, EnvelopeDecodeError, decode_untrusted_envelope

PROVENANCE_FORMAT = "flashtrail.provenance.v1"
TLOG_PROOF_HEADER = "c2sp.org/tlog-proof@v1"
_MAX_SAFE_INTEGER = 2**53 - 1


class VerificationError(Exception):
    """`code` is stable (SIGNATURE_ERROR, CHAIN_BROKEN, …); `step` names the step; `location` the entry."""

    def __init__(self, code: str, step: str, message: str, location: dict | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.step = step
        self.location = location or {}


# ---- signed notes and checkpoints (C2SP) -------------------------------------------------------------

@dataclass(frozen=True)
class NoteKey:
    name: str
    id: str  # 4-byte key id, 8 lowercase hex digits
    public_key: bytes


def note_key_id(name: str, public_key: bytes) -> str:
    return hashlib.sha256(name.encode("utf-8") + b"\x0a\x01" + public_key).digest()[:4].hex()


def parse_verifier_key(text: str) -> NoteKey:
    """`<name>+<hex key id>+<base64(0x01 || public key)>`, as golang.org/x/mod/sumdb/note prints it."""
    match = re.fullmatch(r"([^+]+)\+([^+]+)\+(.+)", text.strip(), re.S)
    if not match:
        raise ValueError("a verifier key is <name>+<hex key id>+<base64 key>")
    name, key_id, b64 = match.groups()
    if re.search(r"[\s+]", name):
        raise ValueError("verifier key: the name must not contain spaces or '+'")
    try:
        raw = dsse.b64decode_canonical(b64)
    except ValueError:
        raise ValueError("verifier key: the key is not base64") from None
    if len(raw) != 33 or raw[0] != 0x01:
        raise ValueError("verifier key: only Ed25519 keys (type 0x01) are supported")
    if not re.fullmatch(r"[0-9a-f]{8}", key_id) or note_key_id(name, raw[1:]) != key_id:
        raise ValueError("verifier key: the key id does not match the name and key")
    return NoteKey(name, key_id, raw[1:])


def verify_note(note: str, keys: list[NoteKey]) -> str:
    """The text of a signed note with at least one valid signature by a known key. Signatures by unknown
    keys are ignored (room for witness cosignatures); a failing signature by a known key rejects the note."""
    if re.search(r"[\x00-\x09\x0b-\x1f]", note):
        raise ValueError("note contains control characters")
    split = note.rfind("\n\n")
    if split < 0 or not note.endswith("\n"):
        raise ValueError("malformed note: no blank line before the signatures")
    text = note[: split + 1]
    lines = note[split + 2 : -1].split("\n")
    if len(lines) > 100:
        raise ValueError("note has too many signatures")
    verified = 0
    for line in lines:
        match = re.fullmatch(r"\u2014 (\S+) ([A-Za-z0-9+/=]+)", line)
        if not match:
            raise ValueError(f"malformed signature line {line!r}")
        raw = dsse.b64decode_canonical(match.group(2))
        if len(raw) < 5:
            raise ValueError("signature too short")
        key = next((k for k in keys if k.name == match.group(1) and k.id == raw[:4].hex()), None)
        if key is None:
            continue
        if not ed25519.verify(raw[4:], text.encode("utf-8"), key.public_key):
            raise ValueError(f"signature by {key.name} does not verify")
        verified += 1
    if verified == 0:
        raise ValueError("no signature by a trusted key")
    return text


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes


def parse_checkpoint_body(text: str) -> Checkpoint:
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "":
        raise ValueError("a checkpoint has origin, size and root lines")
    origin, size_text, root_text = lines[0], lines[1], lines[2]
    if not origin:
        raise ValueError("empty origin")
    if not re.fullmatch(r"0|[1-9][0-9]*", size_text) or int(size_text) > _MAX_SAFE_INTEGER:
        raise ValueError(f"bad tree size {size_text}")
    try:
        root = dsse.b64decode_canonical(root_text)
    except ValueError:
        raise ValueError("root hash is not base64") from None
    if len(root) != 32:
        raise ValueError("root hash is not 32 bytes")
    return Checkpoint(origin, int(size_text), root)


def parse_tlog_proof(text: str) -> tuple[int, list[bytes], str]:
    """(index, proof hashes, checkpoint note) of a C2SP tlog-proof."""
    lines = text.split("\n")
    i = 0
    if lines[0] != TLOG_PROOF_HEADER:
        raise ValueError(f"a tlog proof starts with {TLOG_PROOF_HEADER}")
    i = 1
    if i < len(lines) and lines[i].startswith("extra "):
        dsse.b64decode_canonical(lines[i][6:])
        i += 1
    match = re.fullmatch(r"index (0|[1-9][0-9]*)", lines[i] if i < len(lines) else "")
    i += 1
    if not match:
        raise ValueError("missing index line")
    hashes = []
    while i < len(lines) and lines[i] != "":
        h = dsse.b64decode_canonical(lines[i])
        if len(h) != 32:
            raise ValueError("proof hash is not 32 bytes")
        hashes.append(h)
        i += 1
    if i >= len(lines) or lines[i] != "":
        raise ValueError("missing blank line before the checkpoint")
    return int(match.group(1)), hashes, "\n".join(lines[i + 1 :])


# ---- RFC 6962 / RFC 9162 Merkle tree ------------------------------------------------------------------

def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def verify_inclusion(leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes) -> bool:
    """RFC 9162 §2.1.3.2."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            r = node_hash(p, r)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn //= 2
                    sn //= 2
        else:
            r = node_hash(r, p)
        fn //= 2
        sn //= 2
    return sn == 0 and r == root


# ---- the provenance pipeline --------------------------------------------------------------------------

@dataclass
class _Entry:
    role: str
    leaf_index: int
    position: int
    decoded: DecodedEvent
    proof: str

    @property
    def event(self) -> dict:
        return self.decoded.event

    @property
    def key_id(self) -> str:
        return self.decoded.envelope["signatures"][0]["keyid"]


@dataclass
class _KeyLife:
    station: str
    public_key: str
    registered_at: int
    revoked_at: int | None = None


@dataclass
class ProvenanceReport:
    serial: str
    checkpoint: dict
    events: int
    stations: list[str]
    firmware: dict
    steps: list[dict] = field(default_factory=list)


def _fail(code: str, step: str, e: _Entry, message: str) -> VerificationError:
    location = {"entry": e.position, "leafIndex": e.leaf_index, "eventId": e.event["id"], "eventType": e.event["type"]}
    return VerificationError(code, step, f"entry {e.position} (leaf {e.leaf_index}, {e.event['type']} {e.event['id']}): {message}", location)


def _is_safe_integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) <= _MAX_SAFE_INTEGER


_ENVELOPE_PROBLEMS = {"ENVELOPE_INVALID": "ENVELOPE_ERROR", "PAYLOAD_NOT_CANONICAL": "PAYLOAD_NOT_CANONICAL", "SCHEMA_INVALID": "SCHEMA_ERROR"}


def verify_provenance(doc: object, ledger_key: NoteKey) -> ProvenanceReport:
    steps: list[dict] = []

    def done(step: str, detail: str) -> None:
        steps.append({"step": step, "detail": detail})

    # format
    ok = (
        isinstance(doc, dict)
        and doc.get("format") == PROVENANCE_FORMAT
        and isinstance(doc.get("serial"), str)
        and isinstance(doc.get("checkpoint"), str)
        and isinstance(doc.get("entries"), list)
        and all(
            isinstance(e, dict) and e.get("role") in ("trust", "station", "unit") and _is_safe_integer(e.get("leafIndex"))
            and isinstance(e.get("proof"), str) and isinstance(e.get("envelope"), dict)
            for e in doc["entries"]
        )
    )
    if not ok:
        raise VerificationError("FORMAT_ERROR", "format", f"not a {PROVENANCE_FORMAT} document")
    serial, note, raw_entries = doc["serial"], doc["checkpoint"], doc["entries"]
    done("format", f"{PROVENANCE_FORMAT} for unit {serial}, {len(raw_entries)} entries")

    # checkpoint
    try:
        body = verify_note(note, [ledger_key])
    except ValueError as error:
        raise VerificationError("CHECKPOINT_SIGNATURE_ERROR", "checkpoint", f"checkpoint is not signed by the pinned ledger key {ledger_key.name}: {error}") from None
    try:
        checkpoint = parse_checkpoint_body(body)
    except ValueError as error:
        raise VerificationError("FORMAT_ERROR", "checkpoint", str(error)) from None
    if checkpoint.origin != ledger_key.name:
        raise VerificationError("CHECKPOINT_ORIGIN_ERROR", "checkpoint", f"checkpoint origin {checkpoint.origin} is not the ledger {ledger_key.name}")
    done("checkpoint", f"signed by {ledger_key.name} ({ledger_key.id}): tree size {checkpoint.size}, root {checkpoint.root.hex()[:16]}…")

    # envelopes
    entries: list[_Entry] = []
    for position, raw in enumerate(raw_entries):
        leaf_index = raw["leafIndex"]
        if leaf_index < 0:
            raise VerificationError("FORMAT_ERROR", "envelopes", f"entry {position}: leaf index must be a non-negative integer", {"entry": position, "leafIndex": leaf_index})
        try:
            decoded = decode_untrusted_envelope(raw["envelope"])
        except EnvelopeDecodeError as error:
            raise VerificationError(_ENVELOPE_PROBLEMS[error.code], "envelopes", f"entry {position} (leaf {leaf_index}): {error}", {"entry": position, "leafIndex": leaf_index}) from None
        entries.append(_Entry(raw["role"], leaf_index, position, decoded, raw["proof"]))
    done("envelopes", f"{len(entries)} DSSE envelopes decoded")

    # trust: AdminKeysTrusted records, signed by the ledger key
    trust = [e for e in entries if e.role == "trust"]
    admin_keys_from: list[tuple[int, dict[str, bytes]]] = []
    for e in trust:
        if e.event["type"] != "AdminKeysTrusted":
            raise _fail("SUBJECT_MISMATCH", "trust", e, f"a trust entry must be AdminKeysTrusted, not {e.event['type']}")
        if not dsse.verify_envelope_signature(e.decoded.envelope, ledger_key.public_key):
            raise _fail("SIGNATURE_ERROR", "trust", e, f"Ed25519 signature over {e.event['type']} does not verify")
        keys = e.event["data"].get("keys")
        if not isinstance(keys, list) or not all(isinstance(k, dict) and _is_hex64(k.get("keyId")) and _is_hex64(k.get("publicKey")) for k in keys):
            raise _fail("SCHEMA_ERROR", "trust", e, "data.keys must list { keyId, publicKey }")
        admin_keys_from.append((e.leaf_index, {k["keyId"]: bytes.fromhex(k["publicKey"]) for k in keys}))
    admin_keys_from.sort(key=lambda t: t[0])
    done("trust", f"{len(trust)} AdminKeysTrusted record(s) signed by the ledger key")

    # stations: registrations and key lifecycles, signed by administrator keys trusted at that point of the log
    lives: dict[str, _KeyLife] = {}
    stations = [e for e in entries if e.role == "station"]
    for e in sorted(stations, key=lambda s: s.leaf_index):
        in_force = next((keys for start, keys in reversed(admin_keys_from) if start < e.leaf_index), {})
        admin_key = in_force.get(e.key_id)
        if admin_key is None:
            raise _fail("KEY_UNKNOWN", "stations", e, f"{e.event['type']} is signed by {e.key_id[:16]}…, not an administrator key trusted at that point of the log")
        if not dsse.verify_envelope_signature(e.decoded.envelope, admin_key):
            raise _fail("SIGNATURE_ERROR", "stations", e, f"Ed25519 signature over {e.event['type']} does not verify")
        data = e.event["data"]
        if e.event["type"] in ("StationKeyRegistered", "StationKeyRevoked") and not (_is_hex64(data.get("keyId")) and isinstance(data.get("stationId"), str)):
            raise _fail("SCHEMA_ERROR", "stations", e, "data.keyId must be a lowercase hex SHA-256 and data.stationId a string")
        if e.event["type"] == "StationKeyRegistered":
            if not _is_hex64(data.get("publicKey")):
                raise _fail("SCHEMA_ERROR", "stations", e, "data.publicKey must be 32 bytes of lowercase hex")
            if ed25519.key_id_of(bytes.fromhex(data["publicKey"])) != data["keyId"]:
                raise _fail("FORMAT_ERROR", "stations", e, "key id is not the hash of the key")
            lives[data["keyId"]] = _KeyLife(data["stationId"], data["publicKey"], e.leaf_index)
        elif e.event["type"] == "StationKeyRevoked":
            if data.get("keyId") in lives:
                lives[data["keyId"]].revoked_at = e.leaf_index
        elif e.event["type"] != "StationRegistered":
            raise _fail("SUBJECT_MISMATCH", "stations", e, f"a station entry cannot be {e.event['type']}")
    done("stations", f"{len(stations)} station events signed by trusted administrator keys; {len(lives)} station key(s)")

    # unit: the unit's own events in stream order, signed by a key live at that point, chained, in log order
    unit = [e for e in entries if e.role == "unit"]
    if not unit:
        raise VerificationError("FORMAT_ERROR", "unit", "the document holds no unit events")
    prev, last_leaf = None, -1
    station_ids: list[str] = []
    bootloader: list[str] = []
    application: list[str] = []
    for e in unit:
        event = e.event
        if event["source"]["kind"] != "station" or event["data"].get("serial") != serial:
            raise _fail("SUBJECT_MISMATCH", "unit", e, f"event is not a station event of unit {serial}")
        life = lives.get(e.key_id)
        if life is None or life.station != event["source"]["id"] or life.registered_at > e.leaf_index:
            raise _fail("KEY_UNKNOWN", "unit", e, f"key {e.key_id[:16]}… was not registered to station {event['source']['id']} before this event")
        if life.revoked_at is not None and life.revoked_at < e.leaf_index:
            raise _fail("KEY_REVOKED", "unit", e, f"key {e.key_id[:16]}… of station {event['source']['id']} was revoked at leaf {life.revoked_at}, before this event")
        if not dsse.verify_envelope_signature(e.decoded.envelope, bytes.fromhex(life.public_key)):
            raise _fail("SIGNATURE_ERROR", "unit", e, f"Ed25519 signature over {event['type']} does not verify")
        if event["prev"] != prev:
            raise _fail("CHAIN_BROKEN", "unit", e, f"prev is {str(event['prev'])[:16]}…, but the preceding event hashes to {str(prev)[:16]}…")
        if e.leaf_index <= last_leaf:
            raise _fail("LOG_ORDER_ERROR", "unit", e, f"leaf {e.leaf_index} does not follow leaf {last_leaf}")
        prev, last_leaf = e.decoded.digest, e.leaf_index
        _add_once(station_ids, event["source"]["id"])
        if event["type"] == "BootloaderWritten":
            _add_once(bootloader, event["data"].get("imageSha256"))
        if event["type"] == "AppVerified" and event["data"].get("result") == "pass":
            _add_once(application, event["data"].get("imageSha256"))
    done("unit", f"{len(unit)} events of {serial}: signatures valid (RFC 8032 strict), keys registered and unrevoked, hash chain unbroken")

    # inclusion: every envelope above is the leaf it claims to be in the checkpointed tree
    for e in entries:
        try:
            index, proof, proof_note = parse_tlog_proof(e.proof)
        except (ValueError, IndexError) as error:
            raise _fail("INCLUSION_PROOF_ERROR", "inclusion", e, f"proof is not a c2sp tlog-proof: {error}") from None
        if index != e.leaf_index:
            raise _fail("INCLUSION_PROOF_ERROR", "inclusion", e, f"proof is for leaf {index}, entry claims {e.leaf_index}")
        if proof_note != note:
            raise _fail("INCLUSION_PROOF_ERROR", "inclusion", e, "proof is against another checkpoint than the document")
        if not verify_inclusion(leaf_hash(e.decoded.bytes), e.leaf_index, checkpoint.size, proof, checkpoint.root):
            raise _fail("INCLUSION_PROOF_ERROR", "inclusion", e, f"envelope is not leaf {e.leaf_index} of the checkpointed tree of size {checkpoint.size}")
    done("inclusion", f"{len(entries)} inclusion proofs verify against the checkpoint (RFC 9162 §2.1.3.2)")

    return ProvenanceReport(
        serial=serial,
        checkpoint={"origin": checkpoint.origin, "size": checkpoint.size, "root": checkpoint.root.hex()},
        events=len(unit),
        stations=station_ids,
        firmware={"bootloader": bootloader, "application": application},
        steps=steps,
    )


def _is_hex64(value: object) -> bool:
    return isinstance(value, str) and re.fullmatch(r"[0-9a-f]{64}", value) is not None


def verify_chain(envelopes: list, public_key_of: Callable[[str, dict], bytes | None]) -> list[DecodedEvent]:
    """One stream's envelopes in stream order, as the ledger returns them (GET /v1/units/:serial/events),
    re-verified: each decodes strictly, is signed (strict RFC 8032) by the key `public_key_of(keyid, event)`
    names, and carries its predecessor's digest as `prev` (the first, null). Weaker than
    `verify_provenance`, which needs no key from anyone but the pinned ledger key: here the caller
    vouches for the keys. Raises VerificationError (step "chain") naming the event."""
    decoded: list[DecodedEvent] = []
    prev = None
    for i, envelope in enumerate(envelopes):
        try:
            d = decode_untrusted_envelope(envelope)
        except EnvelopeDecodeError as error:
            raise VerificationError(_ENVELOPE_PROBLEMS[error.code], "chain", f"event {i}: {error}", {"entry": i}) from None
        at = {"entry": i, "eventId": d.event["id"], "eventType": d.event["type"]}
        where = f"event {i} ({d.event['type']} {d.event['id']})"
        key_id = d.envelope["signatures"][0]["keyid"]
        public_key = public_key_of(key_id, d.event)
        if public_key is None:
            raise VerificationError("KEY_UNKNOWN", "chain", f"{where}: signed by {key_id[:16]}…, a key not known for station {d.event['source']['id']}", at)
        if not dsse.verify_envelope_signature(d.envelope, public_key):
            raise VerificationError("SIGNATURE_ERROR", "chain", f"{where}: Ed25519 signature over {d.event['type']} does not verify", at)
        if d.event["prev"] != prev:
            raise VerificationError("CHAIN_BROKEN", "chain", f"{where}: prev is {str(d.event['prev'])[:16]}…, but the preceding event hashes to {str(prev)[:16]}…", at)
        prev = d.digest
        decoded.append(d)
    return decoded


def _add_once(items: list, item: object) -> None:
    if item not in items:
        items.append(item)
