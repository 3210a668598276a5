"""Ledger events: building and signing them at the source with the stream's `prev` chain, and decoding
envelopes from elsewhere with every byte rule the ledger enforces (src/event/codec.ts)."""
from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

from . import dsse
from .ed25519 import SigningKey
from .jcs import DEFAULT_MAX_DEPTH, CanonicalizationError, canonical_bytes, canonicalize, json_nesting_depth

EVENT_PAYLOAD_TYPE = "application/vnd.flashtrail.event.v1+json"

# Every event type, its source kind and the schema versions a ledger writes of it, mirroring schemas/event.ts
# (unitEventVersions, adminEventVersions, ledgerEventVersions). test/client-versions.unit.test.ts fails when
# the two drift: add a type or version there and here together.
# event-versions:begin
EVENT_VERSIONS = {
    "UnitScanned": ("station", (1, 2)),
    "BootloaderWritten": ("station", (1,)),
    "AppVerified": ("station", (1,)),
    "ProvisioningApplied": ("station", (1, 2)),
    "EfuseBurned": ("station", (1, 2)),
    "StepFailed": ("station", (1, 2)),
    "UnitReworked": ("station", (1, 2)),
    "UnitScrapped": ("station", (1, 2)),
    "UnitShipped": ("station", (1, 2)),
    "IdentityRead": ("station", (1,)),
    "StepStarted": ("station", (1,)),
    "ImagesWritten": ("station", (1,)),
    "ImagesVerified": ("station", (1,)),
    "SecurityStateRead": ("station", (1,)),
    "UnitLocked": ("station", (1,)),
    "FirmwareUpdated": ("station", (1,)),
    "StationRegistered": ("admin", (1, 2, 3)),
    "StationKeyRegistered": ("admin", (1,)),
    "StationKeyRevoked": ("admin", (1,)),
    "ReleaseApproved": ("admin", (1, 2)),
    "BatchOpened": ("admin", (1,)),
    "BatchClosed": ("admin", (1,)),
    "SbomAttached": ("admin", (1,)),
    "SupportPeriodSet": ("admin", (1,)),
    "VulnerabilityAssessed": ("admin", (1,)),
    "VulnerabilityAwareness": ("admin", (1,)),
    "CraReportSubmitted": ("admin", (1,)),
    "AdminKeysTrusted": ("ledger", (1,)),
    "CheckpointIssued": ("ledger", (1, 2)),
    "ScittStatementRegistered": ("ledger", (1,)),
    "LedgerKeyAnnounced": ("ledger", (1,)),
    "LedgerKeyRotated": ("ledger", (1, 2)),
    "NotificationListProduced": ("ledger", (1,)),
}
# event-versions:end

UNIT_EVENT_TYPES = tuple(t for t, (kind, _) in EVENT_VERSIONS.items() if kind == "station")
ADMIN_EVENT_TYPES = tuple(t for t, (kind, _) in EVENT_VERSIONS.items() if kind == "admin")
LEDGER_EVENT_TYPES = tuple(t for t, (kind, _) in EVENT_VERSIONS.items() if kind == "ledger")

# What this client signs: the first version of each type (the fixed sequence's data is version 1's shape).
SCHEMA_VERSIONS = {t: 1 for t in EVENT_VERSIONS}
# What it reads: every version a ledger may have written (docs/format.md §2.5).
READABLE_VERSIONS = {t: set(versions) for t, (_, versions) in EVENT_VERSIONS.items()}


def source_kind(event_type: str) -> str:
    if event_type not in EVENT_VERSIONS:
        raise ValueError(f"unknown event type {event_type!r}")
    return EVENT_VERSIONS[event_type][0]


def stream_of(event: dict) -> str:
    """The stream an event belongs to follows from its type and data (src/event/streams.ts)."""
    t, data = event["type"], event["data"]
    if t in ("StationRegistered", "StationKeyRegistered", "StationKeyRevoked"):
        return "station-" + data["stationId"]
    if t in ("ReleaseApproved", "SbomAttached", "SupportPeriodSet"):
        return "release-" + data["releaseId"]
    if t in ("VulnerabilityAssessed", "VulnerabilityAwareness", "CraReportSubmitted"):
        return "vuln-" + data["vulnerabilityId"]
    if t in ("BatchOpened", "BatchClosed"):
        return "batch-" + data["batchId"]
    if t == "AdminKeysTrusted":
        return "ledger-trust"
    if t == "CheckpointIssued":
        return "ledger-checkpoints"
    if t == "LedgerKeyAnnounced":
        return "ledger-keys"
    if t == "LedgerKeyRotated":
        return "ledger-key-rotations"
    if t == "ScittStatementRegistered":
        return "ledger-statement-" + data["serial"]
    if t == "NotificationListProduced":
        return "ledger-notifications-" + data["vulnerabilityId"]
    return "unit-" + data["serial"]


def iso_millis(moment: datetime) -> str:
    """UTC with millisecond precision and a Z, as the schema requires: 2026-03-02T08:15:30.125Z."""
    if moment.tzinfo is None:
        raise ValueError("occurredAt needs a timezone-aware datetime (use datetime.now(timezone.utc))")
    utc = moment.astimezone(timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def sign_event(event: dict, key: SigningKey) -> dict:
    """The DSSE envelope of an event: its RFC 8785 bytes as the payload, one Ed25519 signature over PAE."""
    return dsse.sign_envelope(EVENT_PAYLOAD_TYPE, canonical_bytes(event), key)


@dataclass(frozen=True)
class SignedEvent:
    event: dict
    envelope: dict
    digest: str
    stream: str


_UNSET = object()


class EventSigner:
    """Builds and signs events for one source (a station id, or an administrator's name), keeping each
    stream's hash chain: an event's `prev` is the digest of the envelope signed before it in its stream.
    For a stream this signer did not start (a unit scanned elsewhere, a restart), tell it the head first
    (`set_head`, e.g. from `LedgerClient.stream_head`)."""

    def __init__(self, key: SigningKey, source_id: str, clock: Callable[[], datetime] | None = None) -> None:
        self.key = key
        self.source_id = source_id
        self._clock = clock or (lambda: datetime.now(timezone.utc))
        self._heads: dict[str, str | None] = {}

    def set_head(self, stream: str, digest: str | None) -> None:
        self._heads[stream] = digest

    def head(self, stream: str) -> str | None:
        return self._heads.get(stream)

    def sign(self, event_type: str, data: dict, *, prev: object = _UNSET, event_id: str | None = None, occurred_at: datetime | None = None) -> SignedEvent:
        if event_type not in SCHEMA_VERSIONS:
            raise ValueError(f"unknown event type {event_type!r}")
        event = {
            "id": event_id or str(uuid.uuid4()),
            "type": event_type,
            "schemaVersion": SCHEMA_VERSIONS[event_type],
            "occurredAt": iso_millis(occurred_at or self._clock()),
            "source": {"kind": source_kind(event_type), "id": self.source_id},
            "prev": None,
            "data": data,
        }
        stream = stream_of(event)
        event["prev"] = self._heads.get(stream) if prev is _UNSET else prev
        envelope = sign_event(event, self.key)
        digest = dsse.envelope_digest(envelope)
        self._heads[stream] = digest
        return SignedEvent(event, envelope, digest, stream)


# ---- decoding envelopes from elsewhere ---------------------------------------------------------------

class EnvelopeDecodeError(ValueError):
    """`code` is the ledger's: ENVELOPE_INVALID, PAYLOAD_NOT_CANONICAL or SCHEMA_INVALID."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class DecodedEvent:
    envelope: dict
    event: dict
    bytes: bytes
    digest: str


_HEX64 = re.compile(r"[0-9a-f]{64}")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
_IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def parse_json(text: str) -> object:
    """JSON as ECMAScript's JSON.parse reads it: NaN and Infinity are not JSON; a repeated member keeps its
    last value (the canonical form check then refuses the document, as the ledger does)."""
    return json.loads(text, parse_constant=_refuse_constant)


def decode_untrusted_envelope(envelope: object) -> DecodedEvent:
    """Every rule the ledger has on the bytes: the DSSE shape with flashtrail's payload type and exactly one
    signature, canonical base64, strict UTF-8, bounded nesting, an RFC 8785 canonical payload, and the
    members of an event. (The ledger also checks each type's data against its schema; see schemas/json.)"""
    if not (
        isinstance(envelope, dict)
        and set(envelope) == {"payloadType", "payload", "signatures"}
        and envelope["payloadType"] == EVENT_PAYLOAD_TYPE
        and isinstance(envelope["payload"], str)
        and 1 <= len(envelope["payload"]) <= 256 * 1024
        and isinstance(envelope["signatures"], list)
        and len(envelope["signatures"]) == 1
        and isinstance(envelope["signatures"][0], dict)
        and set(envelope["signatures"][0]) == {"keyid", "sig"}
        and isinstance(envelope["signatures"][0]["keyid"], str)
        and _HEX64.fullmatch(envelope["signatures"][0]["keyid"])
        and isinstance(envelope["signatures"][0]["sig"], str)
        and len(envelope["signatures"][0]["sig"]) == 88
    ):
        raise EnvelopeDecodeError("ENVELOPE_INVALID", f"not a DSSE envelope of {EVENT_PAYLOAD_TYPE} with one signature")
    try:
        payload_text = dsse.b64decode_canonical(envelope["payload"]).decode("utf-8")
        if len(dsse.b64decode_canonical(envelope["signatures"][0]["sig"])) != 64:
            raise ValueError("the signature is not 64 bytes")
    except ValueError as error:  # UnicodeDecodeError is one
        raise EnvelopeDecodeError("ENVELOPE_INVALID", f"payload or signature is not canonical base64 of UTF-8: {error}") from None
    if json_nesting_depth(payload_text) > DEFAULT_MAX_DEPTH:
        raise EnvelopeDecodeError("ENVELOPE_INVALID", f"the payload is nested deeper than {DEFAULT_MAX_DEPTH} levels")
    try:
        event = parse_json(payload_text)
    except ValueError as error:
        raise EnvelopeDecodeError("ENVELOPE_INVALID", f"the payload is not JSON: {error}") from None
    try:
        canonical = canonicalize(event)
    except CanonicalizationError as error:
        raise EnvelopeDecodeError("PAYLOAD_NOT_CANONICAL", f"the payload has no RFC 8785 form: {error}") from None
    if canonical != payload_text:
        raise EnvelopeDecodeError("PAYLOAD_NOT_CANONICAL", "the payload must be RFC 8785 canonical JSON (sorted members, no whitespace, no duplicate members, shortest numbers)")
    _check_event_members(event)
    data = dsse.envelope_bytes(envelope)
    return DecodedEvent(envelope, event, data, hashlib.sha256(data).hexdigest())


def _check_event_members(event: object) -> None:
    def bad(path: str, message: str) -> EnvelopeDecodeError:
        return EnvelopeDecodeError("SCHEMA_INVALID", f"{path}: {message}")

    if not isinstance(event, dict):
        raise bad("(root)", "an event is a JSON object")
    expected = {"id", "type", "schemaVersion", "occurredAt", "source", "prev", "data"}
    for name in expected - set(event):
        raise bad(name, "missing")
    for name in set(event) - expected:
        raise bad(name, "unknown member")
    t = event["type"]
    if t not in SCHEMA_VERSIONS:
        raise bad("type", f"unknown event type {t!r}")
    if event["schemaVersion"] not in READABLE_VERSIONS[t] or isinstance(event["schemaVersion"], bool):
        raise bad("schemaVersion", f"{t} is schema version {' or '.join(str(v) for v in sorted(READABLE_VERSIONS[t]))}")
    if not (isinstance(event["id"], str) and _UUID.fullmatch(event["id"])):
        raise bad("id", "a UUID")
    if not (isinstance(event["occurredAt"], str) and _TIMESTAMP.fullmatch(event["occurredAt"])):
        raise bad("occurredAt", "UTC with millisecond precision, e.g. 2026-01-31T12:00:00.000Z")
    source = event["source"]
    if not (isinstance(source, dict) and set(source) == {"kind", "id"} and source["kind"] == source_kind(t)
            and isinstance(source["id"], str) and _IDENTIFIER.fullmatch(source["id"])):
        raise bad("source", f"{{kind: {source_kind(t)!r}, id: <identifier>}}")
    if not (event["prev"] is None or (isinstance(event["prev"], str) and _HEX64.fullmatch(event["prev"]))):
        raise bad("prev", "null or a lowercase hex SHA-256 digest")
    if not isinstance(event["data"], dict):
        raise bad("data", "a JSON object")
    try:
        stream = stream_of(event)
    except (KeyError, TypeError):
        stream = None
    if not (isinstance(stream, str) and _IDENTIFIER.fullmatch(stream.split("-", 1)[1] if "-" in stream else stream)):
        raise bad("data", f"does not name the stream of a {t} event")
