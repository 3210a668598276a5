"""flashtrail signing client for line software: RFC 8785, DSSE, strict Ed25519, chained events, the ledger's
HTTP API, and offline verification of provenance documents. Python 3.11+, python3-cryptography only."""
from .dsse import envelope_bytes, envelope_digest, pae, sign_envelope, verify_envelope_signature
from .ed25519 import SigningKey, is_acceptable_public_key, key_id_of, verify
from .events import (
    EVENT_PAYLOAD_TYPE,
    EnvelopeDecodeError,
    EventSigner,
    SignedEvent,
    decode_untrusted_envelope,
    sign_event,
    stream_of,
)
from .jcs import CanonicalizationError, canonical_bytes, canonicalize
from .keyfile import KeyFileError, read_secret_key_file, write_secret_key_file
from .ledger import LedgerClient, LedgerError, LedgerUnreachable
from .provenance import NoteKey, ProvenanceReport, VerificationError, parse_verifier_key, verify_chain, verify_provenance

__all__ = [
    "EVENT_PAYLOAD_TYPE", "CanonicalizationError", "EnvelopeDecodeError", "EventSigner", "KeyFileError", "LedgerClient",
    "LedgerError", "LedgerUnreachable", "NoteKey", "ProvenanceReport", "SignedEvent", "SigningKey", "VerificationError",
    "canonical_bytes", "canonicalize", "decode_untrusted_envelope", "envelope_bytes", "envelope_digest", "is_acceptable_public_key",
    "key_id_of", "pae", "parse_verifier_key", "read_secret_key_file", "sign_envelope", "sign_event", "stream_of", "verify",
    "verify_chain", "verify_envelope_signature", "verify_provenance", "write_secret_key_file",
]
