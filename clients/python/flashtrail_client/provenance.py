"""Offline verification of a unit's provenance document (`flashtrail.provenance.v2`, and v1 as older ledgers
served it), trusting nothing but the ledger's pinned verifier key. The same ordered steps and the same stable
error codes as the ledger's own verifier (src/verify/provenance.ts, docs/format.md §8.1), so that both give
the same verdict on the same document:

  format → checkpoint → envelopes → inclusion → keys → unit

Leaf indices are trusted only once the inclusion proofs verify; every later judgement (which key was live,
which event came first) rests on them.

The ledger key signs the checkpoint (a C2SP signed note) and the AdminKeysTrusted records; the
administrator keys they name sign the station key registrations; those keys sign the unit's events, which
must chain by `prev`; every envelope must be its leaf of the checkpointed RFC 6962 tree (C2SP tlog-proof).
A key counts for an event when its registration precedes the event in the log and no revocation does.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Callable

from . import dsse, ed25519
from .jcs import canonical_bytes
from .events import DecodedEvent, EnvelopeDecodeError, UNIT_EVENT_TYPES, decode_untrusted_envelope, stream_of

PROVENANCE_FORMAT_V1 = "flashtrail.provenance.v1"
PROVENANCE_FORMAT_V2 = "flashtrail.provenance.v2"
# v3 (docs/format.md §6.7) is v2 with `statement`, the ledger's DSSE signature over the rest of the document, which
# this verifier checks (its Ed25519 signature; ML-DSA-44 is reported as not checked), and, optionally, `history`,
# the unit's completeness proof (§15), which it reports as not checked (that needs the index log's key).
PROVENANCE_FORMAT_V3 = "flashtrail.provenance.v3"
PROVENANCE_FORMAT = PROVENANCE_FORMAT_V2

# The event types each role may carry (docs/format.md §6.2).
_ROLE_TYPES = {
    "trust": ("AdminKeysTrusted",),
    "station": ("StationRegistered", "StationKeyRegistered", "StationKeyRevoked"),
    "release": ("ReleaseApproved",),
    "batch": ("BatchOpened",),
    "unit": UNIT_EVENT_TYPES,
}
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


def parse_tlog_proof(text: str, allow_extra: bool = True) -> tuple[int, list[bytes], str]:
    """(index, proof hashes, checkpoint note) of a C2SP tlog-proof. v2 documents carry no `extra` line."""
    lines = text.split("\n")
    i = 0
    if lines[0] != TLOG_PROOF_HEADER:
        raise ValueError(f"a tlog proof starts with {TLOG_PROOF_HEADER}")
    i = 1
    if i < len(lines) and lines[i].startswith("extra "):
        if not allow_extra:
            raise _ExtraLine()
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


class _ExtraLine(ValueError):
    pass


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
    format: str
    serial: str
    checkpoint: dict
    events: int
    stations: list[str]
    batch_id: str | None
    release_id: str | None
    firmware: dict
    steps: list[dict] = field(default_factory=list)


def _fail(code: str, step: str, e: _Entry, message: str) -> VerificationError:
    location = {"entry": e.position, "leafIndex": e.leaf_index, "eventId": e.event["id"], "eventType": e.event["type"]}
    return VerificationError(code, step, f"entry {e.position} (leaf {e.leaf_index}, {e.event['type']} {e.event['id']}): {message}", location)


def _is_safe_integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) <= _MAX_SAFE_INTEGER


_ENVELOPE_PROBLEMS = {"ENVELOPE_INVALID": "ENVELOPE_ERROR", "PAYLOAD_NOT_CANONICAL": "PAYLOAD_NOT_CANONICAL", "SCHEMA_INVALID": "SCHEMA_ERROR"}


def _firmware_of(event: dict) -> list[tuple[str, str]]:
    """(kind, sha256) of the firmware a unit event says the unit carries (docs/format.md §7.6)."""
    t, data = event["type"], event["data"]
    if t == "BootloaderWritten":
        return [("bootloader", data["imageSha256"])]
    if t == "AppVerified":
        return [("application", data["imageSha256"])] if data.get("result") == "pass" else []
    if t == "ImagesVerified":
        if data.get("result") != "pass" or data.get("method") == "boot_log_elf_sha256":
            return []
        return [(_kind(i["name"]), i["expected"]) for i in data["images"]]
    if t == "UnitLocked":
        return [(_kind(i["name"]), i["sha256"]) for i in data["images"]]
    return []


def _kind(name: str) -> str:
    return "application" if name == "app" else name


def verify_provenance(doc: object, ledger_key: NoteKey) -> ProvenanceReport:
    steps: list[dict] = []

    def done(step: str, detail: str) -> None:
        steps.append({"step": step, "detail": detail})

    # format
    fmt = doc.get("format") if isinstance(doc, dict) else None
    v3 = fmt == PROVENANCE_FORMAT_V3
    v2 = fmt in (PROVENANCE_FORMAT_V2, PROVENANCE_FORMAT_V3)
    roles = ("trust", "station", "release", "batch", "unit") if v2 else ("trust", "station", "unit")
    ok = (
        isinstance(doc, dict)
        and fmt in (PROVENANCE_FORMAT_V1, PROVENANCE_FORMAT_V2, PROVENANCE_FORMAT_V3)
        and (set(doc) - {"history"} == {"format", "serial", "checkpoint", "entries", "statement"} if v3 else set(doc) == {"format", "serial", "checkpoint", "entries"})
        and (not v3 or isinstance(doc.get("history", {}), dict) and isinstance(doc.get("statement"), dict))
        and isinstance(doc.get("serial"), str)
        and isinstance(doc.get("checkpoint"), str)
        and isinstance(doc.get("entries"), list)
        and 1 <= len(doc["entries"]) <= 1_000_000
        and all(
            isinstance(e, dict) and set(e) == {"role", "leafIndex", "envelope", "proof"} and e.get("role") in roles
            and _is_safe_integer(e.get("leafIndex")) and e["leafIndex"] >= 0
            and isinstance(e.get("proof"), str) and isinstance(e.get("envelope"), dict)
            for e in doc["entries"]
        )
    )
    if not ok:
        raise VerificationError("FORMAT_ERROR", "format", f"not a {PROVENANCE_FORMAT_V2} (or {PROVENANCE_FORMAT_V1}) document")
    serial, note, raw_entries = doc["serial"], doc["checkpoint"], doc["entries"]
    done("format", f"{fmt} for unit {serial}, {len(raw_entries)} entries")

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

    # envelopes: each decodes strictly and is of a type its role allows; each leaf once; v2 in log order
    entries: list[_Entry] = []
    seen: dict[int, _Entry] = {}
    for position, raw in enumerate(raw_entries):
        leaf_index = raw["leafIndex"]
        try:
            decoded = decode_untrusted_envelope(raw["envelope"])
        except EnvelopeDecodeError as error:
            raise VerificationError(_ENVELOPE_PROBLEMS[error.code], "envelopes", f"entry {position} (leaf {leaf_index}): {error}", {"entry": position, "leafIndex": leaf_index}) from None
        e = _Entry(raw["role"], leaf_index, position, decoded, raw["proof"])
        if e.event["type"] not in _ROLE_TYPES[e.role]:
            raise _fail("SUBJECT_MISMATCH", "envelopes", e, f"a {e.role} entry cannot hold {e.event['type']}")
        entries.append(e)
    for i, e in enumerate(entries):
        if e.leaf_index in seen:
            raise _fail("DUPLICATE_ENTRY", "envelopes", e, f"leaf {e.leaf_index} is already entry {seen[e.leaf_index].position}")
        if v2 and i > 0 and entries[i - 1].leaf_index > e.leaf_index:
            raise _fail("FORMAT_ERROR", "envelopes", e, f"entries must be in log order, and leaf {e.leaf_index} follows leaf {entries[i - 1].leaf_index}")
        seen[e.leaf_index] = e
    done("envelopes", f"{len(entries)} DSSE envelopes decoded, each of its role" + (", in log order" if v2 else ""))

    # inclusion: every envelope is the leaf it claims to be in the checkpointed tree
    proofs = []
    for e in entries:
        try:
            index, proof, proof_note = parse_tlog_proof(e.proof, allow_extra=not v2)
        except _ExtraLine:
            raise _fail("FORMAT_ERROR", "inclusion", e, "the proof carries an extra line, which this format does not use") from None
        except (ValueError, IndexError) as error:
            raise _fail("FORMAT_ERROR", "inclusion", e, f"proof is not a c2sp.org/tlog-proof@v1: {error}") from None
        if index != e.leaf_index:
            raise _fail("INCLUSION_PROOF_ERROR", "inclusion", e, f"proof is for leaf {index}, entry claims {e.leaf_index}")
        if proof_note != note:
            raise _fail("INCLUSION_PROOF_ERROR", "inclusion", e, "proof is against another checkpoint than the document")
        proofs.append(proof)
    failed = [e for e, proof in zip(entries, proofs) if not verify_inclusion(leaf_hash(e.decoded.bytes), e.leaf_index, checkpoint.size, proof, checkpoint.root)]
    if failed:
        first = failed[0]
        # Tell an envelope changed after signing from a misplaced one: its signature, by the key the document names.
        key = _any_key_for(first, entries, ledger_key)
        if key is None:
            raise _fail("KEY_UNKNOWN", "inclusion", first, f"the envelope is not leaf {first.leaf_index} of the checkpointed tree, and it is signed by {first.key_id[:16]}…, a key this document does not name: someone else made it")
        if not dsse.verify_envelope_signature(first.decoded.envelope, key):
            raise _fail("SIGNATURE_ERROR", "inclusion", first, f"the envelope is not leaf {first.leaf_index} of the checkpointed tree, and its Ed25519 signature over {first.event['type']} does not verify: it was changed after it was signed")
        raise _fail("INCLUSION_PROOF_ERROR", "inclusion", first, f"envelope is not leaf {first.leaf_index} of the checkpointed tree of size {checkpoint.size}")
    done("inclusion", f"{len(entries)} inclusion proofs verify against the checkpoint (RFC 9162 §2.1.3.2)")

    # keys: the records every unit depends on, in log order, each stream a prefix from its first record
    admin = sorted((e for e in entries if e.role != "unit"), key=lambda e: e.leaf_index)
    ledger_key_id = ed25519.key_id_of(ledger_key.public_key)
    heads: dict[str, str] = {}
    admin_keys: dict[str, bytes] | None = None
    lives: dict[str, list[_KeyLife]] = {}
    batches: dict[str, str] = {}
    releases: dict[str, dict[str, str]] = {}
    for e in admin:
        stream = stream_of(e.event)
        head = heads.get(stream)
        if e.event["prev"] != head:
            raise _fail("CHAIN_BROKEN", "keys", e, f"the first record of {stream} in this file has prev {str(e.event['prev'])[:16]}…, not null: records of that stream are missing" if head is None else f"prev is {str(e.event['prev'])[:16]}…, but the record before it in {stream} hashes to {head[:16]}…")
        heads[stream] = e.decoded.digest
        data = e.event["data"]
        if e.role == "trust":
            if e.key_id != ledger_key_id:
                raise _fail("KEY_UNKNOWN", "keys", e, f"AdminKeysTrusted must be signed by the ledger key {ledger_key_id[:16]}…, not {e.key_id[:16]}…")
            if not dsse.verify_envelope_signature(e.decoded.envelope, ledger_key.public_key):
                raise _fail("SIGNATURE_ERROR", "keys", e, f"Ed25519 signature over {e.event['type']} does not verify")
            keys = data.get("keys")
            if not isinstance(keys, list) or not all(isinstance(k, dict) and _is_hex64(k.get("keyId")) and _is_hex64(k.get("publicKey")) for k in keys):
                raise _fail("SCHEMA_ERROR", "keys", e, "data.keys must list { keyId, publicKey }")
            admin_keys = {k["keyId"]: bytes.fromhex(k["publicKey"]) for k in keys}
            continue
        admin_key = (admin_keys or {}).get(e.key_id)
        if admin_key is None:
            raise _fail("KEY_UNKNOWN", "keys", e, f"{e.event['type']} is signed by {e.key_id[:16]}…, not an administrator key trusted at that point of the log")
        if not dsse.verify_envelope_signature(e.decoded.envelope, admin_key):
            raise _fail("SIGNATURE_ERROR", "keys", e, f"Ed25519 signature over {e.event['type']} does not verify")
        t = e.event["type"]
        if t == "StationKeyRegistered":
            if ed25519.key_id_of(bytes.fromhex(data["publicKey"])) != data["keyId"]:
                raise _fail("FORMAT_ERROR", "keys", e, "key id is not the hash of the key")
            lives.setdefault(data["keyId"], []).append(_KeyLife(data["stationId"], data["publicKey"], e.leaf_index))
        elif t == "StationKeyRevoked":
            life = next((l for l in lives.get(data["keyId"], []) if l.station == data["stationId"] and l.revoked_at is None), None)
            if life is not None:
                life.revoked_at = e.leaf_index
        elif t == "BatchOpened":
            batches[data["batchId"]] = data["releaseId"]
        elif t == "ReleaseApproved":
            images = {_kind(i["name"]): i["sha256"] for i in data["images"]} if "images" in data else {"bootloader": data["bootloaderSha256"], "application": data["applicationSha256"]}
            releases[data["releaseId"]] = images
    for batch_id, release_id in batches.items():
        if release_id not in releases:
            opened = next(e for e in admin if e.event["type"] == "BatchOpened" and e.event["data"]["batchId"] == batch_id)
            raise _fail("SUMMARY_MISMATCH", "keys", opened, f"batch {batch_id} is opened against release {release_id}, whose ReleaseApproved record is not in the file")
    done("keys", f"{sum(1 for e in admin if e.role == 'trust')} AdminKeysTrusted record(s) signed by the ledger key; {len(admin) - sum(1 for e in admin if e.role == 'trust')} administrator record(s) signed by trusted administrator keys, chained")

    # unit: the unit's own events in stream order, signed by a key live at their leaf, chained from the first, in log order
    unit = [e for e in entries if e.role == "unit"]
    if not unit:
        raise VerificationError("FORMAT_ERROR", "unit", "the document holds no unit events")
    prev: str | None = None
    previous: _Entry | None = None
    station_ids: list[str] = []
    firmware: list[tuple[str, str]] = []
    batch_id: str | None = None
    for e in unit:
        event = e.event
        if event["source"]["kind"] != "station" or event["data"].get("serial") != serial:
            raise _fail("SUBJECT_MISMATCH", "unit", e, f"event is not a station event of unit {serial}")
        registrations = [l for l in lives.get(e.key_id, []) if l.station == event["source"]["id"] and l.registered_at < e.leaf_index]
        live = next((l for l in registrations if l.revoked_at is None or l.revoked_at > e.leaf_index), None)
        if live is None:
            revoked = next((l for l in registrations if l.revoked_at is not None), None)
            if revoked is not None:
                raise _fail("KEY_REVOKED", "unit", e, f"key {e.key_id[:16]}… of station {event['source']['id']} was revoked at leaf {revoked.revoked_at}, before this event")
            raise _fail("KEY_UNKNOWN", "unit", e, f"key {e.key_id[:16]}… was not registered to station {event['source']['id']} before this event")
        if not dsse.verify_envelope_signature(e.decoded.envelope, bytes.fromhex(live.public_key)):
            raise _fail("SIGNATURE_ERROR", "unit", e, f"Ed25519 signature over {event['type']} does not verify")
        if event["prev"] != prev:
            raise _fail("CHAIN_BROKEN", "unit", e, f"the unit's first event must have prev null, not {str(event['prev'])[:16]}…: earlier events are missing" if prev is None else f"prev is {str(event['prev'])[:16]}…, but the preceding event hashes to {prev[:16]}…")
        if previous is not None and e.leaf_index <= previous.leaf_index:
            raise _fail("LOG_ORDER_ERROR", "unit", e, f"this event follows leaf {previous.leaf_index} in its stream, but precedes it in the log (leaf {e.leaf_index})")
        prev, previous = e.decoded.digest, e
        _add_once(station_ids, event["source"]["id"])
        if event["type"] == "UnitScanned":
            batch_id = event["data"]["batchId"]
        for claim in _firmware_of(event):
            _add_once(firmware, claim)
    release_id: str | None = None
    if v2:
        for e in admin:
            if e.role == "station" and e.event["data"]["stationId"] not in station_ids:
                raise _fail("FORMAT_ERROR", "unit", e, "a station record of a station that signed none of the unit's events")
        if batch_id is not None:
            release_id = batches.get(batch_id)
            if release_id is None:
                raise VerificationError("FORMAT_ERROR", "unit", f"the unit was scanned into batch {batch_id}, whose BatchOpened record is not in the document", {"field": "entries"})
        for b in batches:
            if b != batch_id:
                raise VerificationError("FORMAT_ERROR", "unit", f"the document holds the batch record of {b}, not the unit's batch", {"stream": f"batch-{b}"})
        for r in releases:
            if r != release_id:
                raise VerificationError("FORMAT_ERROR", "unit", f"the document holds the release record of {r}, not the release of the unit's batch", {"stream": f"release-{r}"})
    done("unit", f"{len(unit)} events of {serial}: signatures valid (RFC 8032 strict), keys registered and unrevoked, hash chain unbroken from the first event, in log order")
    if v3:
        done("history", "not checked: this verifier does not check the unit history map's completeness proof (flashtrail verify --map-key does)")
        done("statement", _check_statement(doc, ledger_key, checkpoint, len(unit)))

    return ProvenanceReport(
        format=fmt,
        serial=serial,
        checkpoint={"origin": checkpoint.origin, "size": checkpoint.size, "root": checkpoint.root.hex()},
        events=len(unit),
        stations=sorted(station_ids),
        batch_id=batch_id,
        release_id=release_id,
        firmware={"bootloader": [h for k, h in firmware if k == "bootloader"], "application": [h for k, h in firmware if k == "application"]},
        steps=steps,
    )


_STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
_PROVENANCE_PREDICATE_V3 = "https://flashtrail.dev/attestation/provenance/v3"


def _check_statement(doc: dict, ledger_key: NoteKey, checkpoint: Checkpoint, unit_events: int) -> str:
    """§6.7: the ledger's in-toto Statement over SHA-256(JCS(the document without `statement`)), its first
    signature the pinned ledger key's Ed25519 over DSSE PAE."""
    where = {"field": "statement"}
    envelope = doc["statement"]
    signatures = envelope.get("signatures")
    if set(envelope) != {"payloadType", "payload", "signatures"} or not isinstance(signatures, list) or not 1 <= len(signatures) <= 2 or not all(isinstance(x, dict) and set(x) == {"keyid", "sig"} for x in signatures):
        raise VerificationError("FORMAT_ERROR", "statement", "the statement is not a DSSE envelope with one or two signatures", where)
    first = signatures[0]
    if envelope.get("payloadType") != "application/vnd.in-toto+json" or first["keyid"] != hashlib.sha256(ledger_key.public_key).hexdigest():
        raise VerificationError("STATEMENT_SIGNATURE_ERROR", "statement", "the statement's first signature is not by the pinned ledger key", {"field": "envelope.signatures[0].keyid"})
    if not dsse.verify_envelope_signature({**envelope, "signatures": [first]}, ledger_key.public_key):
        raise VerificationError("STATEMENT_SIGNATURE_ERROR", "statement", "the statement's Ed25519 signature does not verify under the pinned ledger key", {"field": "envelope.signatures[0].sig"})
    try:
        statement = json.loads(dsse.b64decode_canonical(envelope["payload"]).decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise VerificationError("FORMAT_ERROR", "statement", "the statement payload is not JSON", where) from None
    rest = {k: v for k, v in doc.items() if k != "statement"}
    digest = hashlib.sha256(canonical_bytes(rest)).hexdigest()
    ok = isinstance(statement, dict) and statement.get("_type") == _STATEMENT_TYPE and statement.get("predicateType") == _PROVENANCE_PREDICATE_V3
    if not ok:
        raise VerificationError("FORMAT_ERROR", "statement", "the statement is not the ledger's provenance statement", where)
    subject, predicate = statement.get("subject"), statement.get("predicate") or {}
    if not (isinstance(subject, list) and len(subject) == 1 and subject[0].get("name") == doc["serial"] and predicate.get("serial") == doc["serial"]):
        raise VerificationError("SUBJECT_MISMATCH", "statement", "the statement is about another unit", {"field": "statement.subject"})
    if subject[0].get("digest", {}).get("sha256") != digest or predicate.get("entries") != len(doc["entries"]) or predicate.get("unitEvents") != unit_events:
        raise VerificationError("CONTENT_DIGEST_ERROR", "statement", "the document is not the one the ledger signed (entries removed, added or changed)", {"field": "statement.subject[0].digest.sha256"})
    if predicate.get("origin") != checkpoint.origin or predicate.get("checkpoint") != {"size": checkpoint.size, "rootHash": checkpoint.root.hex()}:
        raise VerificationError("PREDICATE_MISMATCH", "statement", "the statement names another checkpoint", {"field": "statement.predicate.checkpoint"})
    pq = "; its ML-DSA-44 signature not checked (this client has no ML-DSA-44)" if len(signatures) == 2 else ""
    return f"the ledger signed this document (sha256 {digest[:16]}…) with Ed25519{pq}: nothing was removed from it or added to it since"


def _any_key_for(e: _Entry, entries: list[_Entry], ledger_key: NoteKey) -> bytes | None:
    """The public key an entry's key id names anywhere in the document, ignoring key lives: for diagnosis only."""
    if e.role == "trust":
        return ledger_key.public_key if e.key_id == ed25519.key_id_of(ledger_key.public_key) else None
    if e.role == "unit":
        for r in entries:
            d = r.event["data"]
            if r.event["type"] == "StationKeyRegistered" and d.get("keyId") == e.key_id and d.get("stationId") == e.event["source"]["id"]:
                return bytes.fromhex(d["publicKey"])
        return None
    for r in entries:
        if r.event["type"] == "AdminKeysTrusted":
            for k in r.event["data"].get("keys", []):
                if isinstance(k, dict) and k.get("keyId") == e.key_id and _is_hex64(k.get("publicKey")):
                    return bytes.fromhex(k["publicKey"])
    return None


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
