#!/usr/bin/env python3
"""An independent verifier of flashtrail evidence, written from docs/format.md alone.

    python3 flashtrail_verify.py --ledger-key KEY FILE

With --map-key (the index log's verifier key), a flashtrail.provenance.v3 document's history is checked too
(flashtrail_history.py, docs/format.md §15). FILE is a provenance document (flashtrail.provenance.v1/v2/v3), an NDJSON export (flashtrail.export.v1/v2/v3/v4; with --map-key a v4 export's per-unit history is checked, §7.6.2), or a
firmware answer (flashtrail.firmware-units.v1, §15.6.1: GET /v1/unit-map/firmware/<sha256>, or the file of
`flashtrail firmware-units --out FILE`; it needs --map-key, and --sha256 D checks that it is about D); KEY the
pinned verifier key text (<name>+<8 hex>+<base64(0x01 || public key)>). The last line of stdout is one JSON object:
{"ok": true, ...} with exit status 0, or {"ok": false, "code": <docs/format.md §9>, "message": ...} with exit 1.

Only the Python standard library and python3-cryptography (OpenSSL's Ed25519, wrapped in the strict checks of
§2.3 that OpenSSL does not make). The sections below follow the specification: §1 encodings and RFC 8785, §2.3
strict Ed25519, §4 the Merkle log, §5 notes and keys, §6.3 tlog-proofs, §2.2 event schemas, §8 the pipelines.
"""

import base64
import binascii
import datetime
from decimal import Decimal
import hashlib
import json
import re
import sys
import unicodedata

import export_v3

try:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
except Exception:  # pragma: no cover - reported as one JSON line by main()
    Ed25519PublicKey = None
    InvalidSignature = Exception


# ---------------------------------------------------------------------------------------------------------------
# Failures: one code of §9, a message, and where (advisory).

class Refused(Exception):
    def __init__(self, code, message, **where):
        super().__init__(message)
        self.code = code
        self.message = message
        self.where = {k: v for k, v in where.items() if v is not None}


def refuse(code, message, **where):
    raise Refused(code, message, **where)


FORMAT_ERROR = 'FORMAT_ERROR'
RECORD_NOT_CANONICAL = 'RECORD_NOT_CANONICAL'
LEDGER_KEY_ERROR = 'LEDGER_KEY_ERROR'
CHECKPOINT_SIGNATURE_ERROR = 'CHECKPOINT_SIGNATURE_ERROR'
CHECKPOINT_ORIGIN_ERROR = 'CHECKPOINT_ORIGIN_ERROR'
ENVELOPE_ERROR = 'ENVELOPE_ERROR'
PAYLOAD_NOT_CANONICAL = 'PAYLOAD_NOT_CANONICAL'
SCHEMA_ERROR = 'SCHEMA_ERROR'
SIGNATURE_ERROR = 'SIGNATURE_ERROR'
KEY_UNKNOWN = 'KEY_UNKNOWN'
KEY_REVOKED = 'KEY_REVOKED'
CHAIN_BROKEN = 'CHAIN_BROKEN'
LOG_ORDER_ERROR = 'LOG_ORDER_ERROR'
DUPLICATE_ENTRY = 'DUPLICATE_ENTRY'
SUBJECT_MISMATCH = 'SUBJECT_MISMATCH'
CONSISTENCY_PROOF_ERROR = 'CONSISTENCY_PROOF_ERROR'
SUMMARY_MISMATCH = 'SUMMARY_MISMATCH'
SELECTION_MISMATCH = 'SELECTION_MISMATCH'
EXPORT_INCOMPLETE = 'EXPORT_INCOMPLETE'
INCLUSION_PROOF_ERROR = 'INCLUSION_PROOF_ERROR'
STATEMENT_SIGNATURE_ERROR = 'STATEMENT_SIGNATURE_ERROR'
PREDICATE_MISMATCH = 'PREDICATE_MISMATCH'
CONTENT_DIGEST_ERROR = 'CONTENT_DIGEST_ERROR'
CHECKPOINT_PQ_SIGNATURE_ERROR = 'CHECKPOINT_PQ_SIGNATURE_ERROR'
RENEWAL_SUBJECT_MISMATCH = 'RENEWAL_SUBJECT_MISMATCH'


# ---------------------------------------------------------------------------------------------------------------
# §1 Bytes and text, hex, base64.

HEX64 = re.compile(r'[0-9a-f]{64}')
BASE64_TEXT = re.compile(r'(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?')


def b64decode_strict(text):
    """Canonical RFC 4648 §4 base64 with padding, or None: only the standard alphabet, padding to a multiple of 4,
    and (checked by encoding the result again) zero unused bits in the last symbol."""
    if not isinstance(text, str) or BASE64_TEXT.fullmatch(text) is None:
        return None
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    return data if base64.b64encode(data).decode('ascii') == text else None


def utf8_strict(data):
    """Strict UTF-8 (Python's codec refuses overlong forms, surrogates and values past U+10FFFF), or None."""
    try:
        return data.decode('utf-8', errors='strict')
    except UnicodeDecodeError:
        return None


def sha256(data):
    return hashlib.sha256(data).digest()


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------------------------------------------
# JSON reading: RFC 8259 as ECMAScript's JSON.parse reads it (numbers are IEEE 754 doubles when canonicalised),
# with duplicate member names detected rather than silently merged, and NaN/Infinity refused.

class JsonDuplicates:
    def __init__(self):
        self.seen = False


def _no_constants(name):
    raise ValueError('not JSON: ' + name)


def parse_json(text):
    """(value, had_duplicate_member_names). Raises ValueError for anything that is not one JSON text."""
    dup = JsonDuplicates()

    def pairs(items):
        obj = {}
        for k, v in items:
            if k in obj:
                dup.seen = True
            obj[k] = v  # ECMAScript keeps the last one
        return obj

    if text.startswith('\ufeff'):
        raise ValueError('a byte order mark')
    try:
        value = json.loads(text, object_pairs_hook=pairs, parse_constant=_no_constants)
    except RecursionError:
        raise ValueError('nested too deeply')
    except ValueError as e:  # json.JSONDecodeError and int conversion limits
        raise ValueError(str(e).split('\n')[0])
    return value, dup.seen


def depth(value):
    """Nesting depth: a scalar is 0, an object or array one more than its deepest member."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict):
            deepest = max(deepest, d)
            stack.extend((x, d + 1) for x in v.values())
        elif isinstance(v, list):
            deepest = max(deepest, d)
            stack.extend((x, d + 1) for x in v)
    return deepest


# ---------------------------------------------------------------------------------------------------------------
# RFC 8785 JSON Canonicalization Scheme.

class NotCanonicalisable(Exception):
    pass


def es_number(x):
    """ECMAScript Number::toString(10) of a double (ECMA-262 §6.1.6.1.20), which RFC 8785 §3.2.2.3 prescribes."""
    if x != x or x in (float('inf'), float('-inf')):
        raise NotCanonicalisable('a number that is not finite')
    if x == 0:
        return '0'
    if x < 0:
        return '-' + es_number(-x)
    # repr() is the shortest text that reads back as x (correctly rounded, the nearest when several are shortest),
    # which is the digit string s of the ECMAScript algorithm; Decimal splits it into digits and exponent.
    t = Decimal(repr(x)).as_tuple()
    digits = ''.join(map(str, t.digits)).lstrip('0')
    exponent = t.exponent
    stripped = digits.rstrip('0')
    exponent += len(digits) - len(stripped)
    digits = stripped
    k = len(digits)
    n = exponent + k
    if k <= n <= 21:
        return digits + '0' * (n - k)
    if 0 < n <= 21:
        return digits[:n] + '.' + digits[n:]
    if -6 < n <= 0:
        return '0.' + '0' * (-n) + digits
    e = n - 1
    sign = '+' if e >= 0 else '-'
    if k == 1:
        return digits + 'e' + sign + str(abs(e))
    return digits[0] + '.' + digits[1:] + 'e' + sign + str(abs(e))


_LONE_SURROGATE = re.compile('[\ud800-\udfff]')
_NEEDS_ESCAPE = re.compile(r'["\\\x00-\x1f]')
_ESCAPES = {'"': '\\"', '\\': '\\\\', '\b': '\\b', '\t': '\\t', '\n': '\\n', '\f': '\\f', '\r': '\\r'}


def _jcs_string(s):
    """RFC 8785 §3.2.2.2 (ECMAScript's JSON.stringify of a string): escape only '"', '\\' and the C0 controls,
    with the short forms where JSON has them and lowercase \\u00xx otherwise; everything else as it is."""
    if _LONE_SURROGATE.search(s):
        raise NotCanonicalisable('a lone surrogate (not I-JSON)')
    return '"' + _NEEDS_ESCAPE.sub(lambda m: _ESCAPES.get(m.group(), '\\u%04x' % ord(m.group())), s) + '"'


def _utf16_key(name):
    return name.encode('utf-16-be', errors='surrogatepass')


def jcs(value):
    """The canonical text (str) of a JSON value. Raises NotCanonicalisable."""
    parts = []
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, _Lit):
            parts.append(v.text)
        elif v is None:
            parts.append('null')
        elif v is True:
            parts.append('true')
        elif v is False:
            parts.append('false')
        elif isinstance(v, int):
            try:
                parts.append(es_number(float(v)))
            except OverflowError:
                raise NotCanonicalisable('a number beyond the range of a double')
        elif isinstance(v, float):
            parts.append(es_number(v))
        elif isinstance(v, str):
            parts.append(_jcs_string(v))
        elif isinstance(v, list):
            seq = [_Lit('[')]
            for i, x in enumerate(v):
                if i:
                    seq.append(_Lit(','))
                seq.append(x)
            seq.append(_Lit(']'))
            stack.extend(reversed(seq))
        elif isinstance(v, dict):
            for name in v:
                _jcs_string(name)  # refuses lone surrogates in names
            seq = [_Lit('{')]
            for i, name in enumerate(sorted(v, key=_utf16_key)):
                if i:
                    seq.append(_Lit(','))
                seq.append(_Lit(_jcs_string(name) + ':'))
                seq.append(v[name])
            seq.append(_Lit('}'))
            stack.extend(reversed(seq))
        else:
            raise NotCanonicalisable('not a JSON value')
    return ''.join(parts)


class _Lit:
    __slots__ = ('text',)

    def __init__(self, text):
        self.text = text



def jcs_bytes(value):
    return jcs(value).encode('utf-8')


# ---------------------------------------------------------------------------------------------------------------
# §2.3 Strict Ed25519: RFC 8032 §5.1.7, cofactorless, canonical A and R, S < L, no small-order public keys.
# OpenSSL computes the cofactorless equation and refuses S >= L and (by comparing R's bytes with the canonical
# encoding it computes) non-canonical R; it does not refuse a non-canonical or small-order A. Those checks are
# made here, in plain integer arithmetic on the curve, before OpenSSL is asked.

P = 2 ** 255 - 19
L = 2 ** 252 + 27742317777372353535851937790883648493
D = (-121665 * pow(121666, P - 2, P)) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)


def _decode_point(b):
    """Affine (x, y) of a canonically encoded point, or None (y >= p, no square root, or x = 0 with sign 1)."""
    if len(b) != 32:
        return None
    n = int.from_bytes(b, 'little')
    sign = n >> 255
    y = n & ((1 << 255) - 1)
    if y >= P:
        return None
    u = (y * y - 1) % P
    v = (D * y * y + 1) % P
    x2 = u * pow(v, P - 2, P) % P
    if x2 == 0:
        if sign:
            return None
        return (0, y)
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P != 0:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P != 0:
        return None
    if (x & 1) != sign:
        x = P - x
    return (x, y)


def _add(p1, p2):
    x1, y1 = p1
    x2, y2 = p2
    t = D * x1 * x2 * y1 * y2 % P
    x3 = (x1 * y2 + x2 * y1) * pow(1 + t, P - 2, P) % P
    y3 = (y1 * y2 + x1 * x2) * pow(1 - t, P - 2, P) % P
    return (x3, y3)


def _small_order(pt):
    q = pt
    for _ in range(3):
        q = _add(q, q)
    return q == (0, 1)


_KEY_CACHE = {}


def strict_public_key(pub):
    """An OpenSSL public key object for a 32-byte key acceptable under §2.3, or None."""
    if not isinstance(pub, (bytes, bytearray)) or len(pub) != 32:
        return None
    pub = bytes(pub)
    if pub in _KEY_CACHE:
        return _KEY_CACHE[pub]
    key = None
    pt = _decode_point(pub)
    if pt is not None and not _small_order(pt):
        try:
            key = Ed25519PublicKey.from_public_bytes(pub)
        except Exception:
            key = None
    _KEY_CACHE[pub] = key
    return key


def ed25519_verify(pub, message, sig):
    """Strict verification of §2.3: True or False, never an exception."""
    if not isinstance(sig, (bytes, bytearray)) or len(sig) != 64:
        return False
    key = strict_public_key(pub)
    if key is None:
        return False
    if _decode_point(bytes(sig[:32])) is None:  # R must be a canonical encoding of a curve point
        return False
    if int.from_bytes(sig[32:], 'little') >= L:
        return False
    try:
        key.verify(bytes(sig), bytes(message))
        return True
    except InvalidSignature:
        return False
    except Exception:
        return False


def pae(payload_type, body):
    t = payload_type.encode('utf-8')
    return b'DSSEv1 ' + str(len(t)).encode() + b' ' + t + b' ' + str(len(body)).encode() + b' ' + body


# ---------------------------------------------------------------------------------------------------------------
# §4 The Merkle log (RFC 6962 hashing, RFC 9162 §2.1.3.2 inclusion verification).

MAX_PROOF = 64


def leaf_hash(envelope_bytes):
    return sha256(b'\x00' + envelope_bytes)


def node_hash(left, right):
    return sha256(b'\x01' + left + right)


def inclusion_root(index, size, leaf, path):
    """The root the audit path yields, or None when the path does not have the length the algorithm consumes."""
    if not (0 <= index < size) or len(path) > MAX_PROOF:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        return None
    return r


# ---------------------------------------------------------------------------------------------------------------
# §5 The verifier key, the signed note, the checkpoint.

class LedgerKey:
    def __init__(self, name, key_id, public_key):
        self.name = name
        self.key_id = key_id            # 4 bytes, the note key id
        self.public_key = public_key    # 32 bytes
        self.dsse_keyid = sha256_hex(public_key)  # §2.4: keyid of what the ledger signs in DSSE


def parse_ledger_key(text):
    if not isinstance(text, str):
        refuse(LEDGER_KEY_ERROR, 'no verifier key given')
    text = text.strip('\n')
    parts = text.split('+', 2)  # the base64 key itself may contain '+'
    if len(parts) != 3:
        refuse(LEDGER_KEY_ERROR, 'a verifier key is <name>+<key id>+<key>: three fields separated by "+"')
    name, hexid, b64 = parts
    if not name or any(c.isspace() for c in name) or any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        refuse(LEDGER_KEY_ERROR, 'the verifier key name is empty or contains spaces or control characters')
    if re.fullmatch(r'[0-9a-f]{8}', hexid) is None:
        refuse(LEDGER_KEY_ERROR, 'the verifier key id is not 8 lowercase hex digits')
    raw = b64decode_strict(b64)
    if raw is None or len(raw) != 33 or raw[0] != 0x01:
        refuse(LEDGER_KEY_ERROR, 'the verifier key is not canonical base64 of 0x01 and a 32-byte Ed25519 key')
    key = ledger_key_of(name, raw[1:])
    if key.key_id.hex() != hexid:
        refuse(LEDGER_KEY_ERROR, 'the verifier key id does not match its name and key')
    if strict_public_key(key.public_key) is None:
        refuse(LEDGER_KEY_ERROR, 'the verifier key is not an acceptable Ed25519 public key (§2.3)')
    return key


def ledger_key_of(name, public_key):
    """§5: the ledger key `name` with this Ed25519 public key; its note key id SHA-256(name || LF || 0x01 || key)[:4]."""
    return LedgerKey(name, sha256(name.encode('utf-8') + b'\n' + b'\x01' + public_key)[:4], public_key)


class Checkpoint:
    def __init__(self, origin, size, root, note):
        self.origin = origin
        self.size = size
        self.root = root
        self.note = note


NOTE_SIG_LINE = re.compile('\u2014 ([^ \n]+) ([A-Za-z0-9+/=]+)')


def split_note(note, where):
    """§5 the signed-note structure: (body, [(signer name, decoded signature bytes)]); malformed, it carries no
    verifiable signature (CHECKPOINT_SIGNATURE_ERROR)."""
    if not isinstance(note, str) or not (1 <= len(note) <= 16384):
        refuse(FORMAT_ERROR, 'the checkpoint is not a note of 1 to 16,384 characters', **where)
    # "control characters": taken as Unicode's Cc (C0, DEL and C1), the strictest reading.
    if not note.endswith('\n') or any(c != '\n' and unicodedata.category(c) == 'Cc' for c in note):
        refuse(CHECKPOINT_SIGNATURE_ERROR, 'the checkpoint is not a signed note (final newline, control characters)', **where)
    split = note.find('\n\n')
    if split < 0:
        refuse(CHECKPOINT_SIGNATURE_ERROR, 'the checkpoint note has no blank line before its signatures', **where)
    body = note[:split + 1]
    sig_lines = note[split + 2:-1].split('\n') if note[split + 2:] else []
    if not (1 <= len(sig_lines) <= 100):
        refuse(CHECKPOINT_SIGNATURE_ERROR, 'the checkpoint note has not 1 to 100 signature lines', **where)
    signatures = []
    for line in sig_lines:
        m = NOTE_SIG_LINE.fullmatch(line)
        raw = b64decode_strict(m.group(2)) if m else None
        if m is None or raw is None or len(raw) < 5:
            refuse(CHECKPOINT_SIGNATURE_ERROR, 'a checkpoint signature line is not "\u2014 name base64"', **where)
        signatures.append((m.group(1), raw))
    return body, signatures


def note_has_line_by(note, key):
    """Whether the note has a signature line with the key's name and id (§5.4, an export's line 2: such a note is
    verified at once, one without once the chain is followed). A note that is no signed note at all counts as
    having one: verifying it at once refuses it where it is."""
    try:
        _body, signatures = split_note(note, {})
    except Refused:
        return True
    return any(name == key.name and raw[:4] == key.key_id for name, raw in signatures)


def verify_checkpoint(note, key, where):
    """§8.1 step 2: the signature (CHECKPOINT_SIGNATURE_ERROR), the body (FORMAT_ERROR), the origin."""
    body, signatures = split_note(note, where)
    verified = False
    for name, raw in signatures:
        if name != key.name or raw[:4] != key.key_id:
            continue  # another signer (a witness, the ML-DSA-44 line): ignored
        if len(raw) != 68 or not ed25519_verify(key.public_key, body.encode('utf-8'), raw[4:]):
            refuse(CHECKPOINT_SIGNATURE_ERROR, 'the checkpoint signature by the ledger key %s+%s does not verify' % (key.name, key.key_id.hex()), **where)
        verified = True
    if not verified:
        refuse(CHECKPOINT_SIGNATURE_ERROR, 'the checkpoint carries no signature by the ledger key %s+%s (the pinned key, or the last its chain leads to)' % (key.name, key.key_id.hex()), **where)
    lines = body[:-1].split('\n')
    if len(lines) < 3:
        refuse(FORMAT_ERROR, 'the checkpoint body has not its three lines (origin, size, root)', **where)
    origin, size_text, root_text = lines[0], lines[1], lines[2]
    if not origin:
        refuse(FORMAT_ERROR, 'the checkpoint origin line is empty', **where)
    if re.fullmatch(r'0|[1-9][0-9]*', size_text) is None or int(size_text) > 2 ** 64 - 1:
        refuse(FORMAT_ERROR, 'the checkpoint tree size is not a decimal without leading zeros', **where)
    root = b64decode_strict(root_text)
    if root is None or len(root) != 32:
        refuse(FORMAT_ERROR, 'the checkpoint root hash is not base64 of 32 bytes', **where)
    if origin != key.name:
        refuse(CHECKPOINT_ORIGIN_ERROR, 'the checkpoint origin %r is not the pinned key name %r' % (origin, key.name), **where)
    return Checkpoint(origin, int(size_text), root, note)


ML_DSA_LINE = 4 + 8 + 2420  # key id, big-endian timestamp, ML-DSA-44 signature (§5.5)


def ml_dsa_note_key_id(origin, pq_key):
    """§5.5: the first 4 bytes of SHA-256(origin || 0x0A || 0x06 || 1312-byte public key)."""
    return sha256(origin.encode('utf-8') + b'\n\x06' + pq_key)[:4]


def subtree_message(origin, timestamp, size, root):
    """§5.5 (tlog-cosignature v1.1): what the ML-DSA-44 line signs, the log being its own cosigner."""
    name = origin.encode('utf-8')
    return (b'subtree/v1\n\x00' + bytes([len(name)]) + name + timestamp.to_bytes(8, 'big')
            + bytes([len(name)]) + name + (0).to_bytes(8, 'big') + size.to_bytes(8, 'big') + root)


def check_pq_line(checkpoint, pq_key, where):
    """§5.5 under the hybrid policy (an ML-DSA-44 key pinned; this verifier has no classical option with one): the
    checkpoint carries a line by `pq_key`, the key in force at its size (the ML-DSA-44 chain's last), of the right
    length, over a body of exactly three lines (CHECKPOINT_PQ_SIGNATURE_ERROR). Its signature is verified only with
    an external ML-DSA-44 program (--ml-dsa-verifier); the sentence returned says what was checked."""
    if pq_key is None:
        return 'no ML-DSA-44 key pinned: the ML-DSA-44 line, if any, was not read'
    key_id = ml_dsa_note_key_id(checkpoint.origin, pq_key)
    body, signatures = split_note(checkpoint.note, where)
    lines = [raw for name, raw in signatures if name == checkpoint.origin and raw[:4] == key_id]
    if not lines:
        refuse(CHECKPOINT_PQ_SIGNATURE_ERROR, 'the checkpoint carries no ML-DSA-44 line by %s (%s), which the hybrid policy requires' % (checkpoint.origin, key_id.hex()), **where)
    if any(len(raw) != ML_DSA_LINE for raw in lines):
        refuse(CHECKPOINT_PQ_SIGNATURE_ERROR, 'the ML-DSA-44 line is not a key id, a timestamp and a 2420-byte signature', **where)
    if body.count('\n') != 3:
        refuse(CHECKPOINT_PQ_SIGNATURE_ERROR, 'the checkpoint body has extension lines, which its ML-DSA-44 line does not cover', **where)
    verifier = V3_OPTIONS['ml_dsa_verifier']
    if verifier is None:
        return 'the ML-DSA-44 line by %s is present and well formed; its signature was not checked (no ML-DSA-44 here)' % key_id.hex()
    for raw in lines:
        message = subtree_message(checkpoint.origin, int.from_bytes(raw[4:12], 'big'), checkpoint.size, checkpoint.root)
        if not export_v3.ml_dsa_verify(verifier, pq_key, message, raw[12:], refuse, where):
            refuse(CHECKPOINT_PQ_SIGNATURE_ERROR, 'the ML-DSA-44 line by %s does not verify' % key_id.hex(), **where)
    return 'the ML-DSA-44 line by %s verified by %s' % (key_id.hex(), verifier)


# ---------------------------------------------------------------------------------------------------------------
# §6.3 tlog-proof (c2sp.org/tlog-proof).

class TlogProof:
    def __init__(self, index, hashes, note):
        self.index = index
        self.hashes = hashes
        self.note = note


def parse_tlog_proof(text, allow_extra, where):
    if not isinstance(text, str):
        refuse(FORMAT_ERROR, 'the proof is not a tlog-proof text', **where)
    lines = text.split('\n')
    if lines[0] != 'c2sp.org/tlog-proof@v1':
        refuse(FORMAT_ERROR, 'the proof does not begin with the line c2sp.org/tlog-proof@v1', **where)
    i = 1
    if i < len(lines) and lines[i].startswith('extra'):
        if not allow_extra:
            refuse(FORMAT_ERROR, 'a tlog-proof with an extra line (not allowed in v2)', **where)
        if re.fullmatch(r'extra [A-Za-z0-9+/=]*', lines[i]) is None or b64decode_strict(lines[i][6:]) is None:
            refuse(FORMAT_ERROR, 'the tlog-proof extra line is not "extra <base64>"', **where)
        i += 1
    if i >= len(lines) or re.fullmatch(r'index (0|[1-9][0-9]*)', lines[i]) is None:
        refuse(FORMAT_ERROR, 'the tlog-proof has no line "index <decimal>"', **where)
    index = int(lines[i][6:])
    i += 1
    hashes = []
    while i < len(lines) and lines[i] != '':
        h = b64decode_strict(lines[i])
        if h is None or len(h) != 32:
            refuse(FORMAT_ERROR, 'a tlog-proof hash is not base64 of 32 bytes', **where)
        hashes.append(h)
        i += 1
    if len(hashes) > MAX_PROOF:
        refuse(FORMAT_ERROR, 'a tlog-proof of more than 64 hashes', **where)
    if i >= len(lines):
        refuse(FORMAT_ERROR, 'the tlog-proof has no empty line before its checkpoint', **where)
    note = '\n'.join(lines[i + 1:])
    return TlogProof(index, hashes, note)


# ---------------------------------------------------------------------------------------------------------------
# §2.2 The event schemas.

IDENTIFIER = re.compile(r'[A-Za-z0-9][A-Za-z0-9._:-]{0,63}')
MAC = re.compile(r'[0-9a-f]{2}(?::[0-9a-f]{2}){5}')
ERROR_CODE = re.compile(r'[A-Z][A-Z0-9_]{1,63}')
UUID = re.compile(r'[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[1-8][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}'
                  r'|00000000-0000-0000-0000-000000000000|[fF]{8}-[fF]{4}-[fF]{4}-[fF]{4}-[fF]{12}')
TIMESTAMP = re.compile(r'([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})\.[0-9]{3}Z')
DAY = re.compile(r'([0-9]{4})-([0-9]{2})-([0-9]{2})')
STEPS = ('scan', 'bootloader', 'application', 'app_verify', 'provisioning', 'efuse', 'test', 'ship')
MAX_SAFE = 2 ** 53 - 1


def is_int(v):
    return (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer())


def valid_day(y, m, d):
    try:
        datetime.date(int(y), int(m), int(d))
        return True
    except ValueError:
        return False


# Checkers: each returns None when the value conforms, else a short reason.
def c_pattern(rx, what):
    return lambda v: None if isinstance(v, str) and rx.fullmatch(v) else 'not ' + what


def c_text(lo, hi):
    return lambda v: None if isinstance(v, str) and lo <= len(v) <= hi else 'not a string of %d to %d characters' % (lo, hi)


def c_int(lo, hi=MAX_SAFE):
    return lambda v: None if is_int(v) and lo <= v <= hi else 'not an integer from %d to %d' % (lo, hi)


def c_enum(*values):
    return lambda v: None if isinstance(v, str) and v in values else 'not one of ' + ', '.join(values)


def c_const(value):
    return lambda v: None if v == value and type(v) is type(value) else 'not %r' % (value,)


def c_bool(v):
    return None if isinstance(v, bool) else 'not a boolean'


def c_timestamp(v):
    m = TIMESTAMP.fullmatch(v) if isinstance(v, str) else None
    if m is None or not valid_day(*m.groups()[:3]) or int(m.group(4)) > 23 or int(m.group(5)) > 59 or int(m.group(6)) > 59:
        return 'not a UTC timestamp YYYY-MM-DDTHH:MM:SS.sssZ'
    return None


def c_day(v):
    m = DAY.fullmatch(v) if isinstance(v, str) else None
    return None if m and valid_day(*m.groups()) else 'not a UTC day YYYY-MM-DD'


def c_array(item, lo, hi):
    def check(v):
        if not isinstance(v, list) or not (lo <= len(v) <= hi):
            return 'not an array of %d to %d items' % (lo, hi)
        for i, x in enumerate(v):
            r = item(x)
            if r:
                return '[%d]%s' % (i, r if r[0] in '.[' else ' ' + r)
        return None
    return check


def c_object(fields):
    """fields: name -> (checker, required)."""
    def check(v):
        if not isinstance(v, dict):
            return 'not an object'
        for name in v:
            if name not in fields:
                return 'has the unknown member %r' % name
        for name, (checker, required) in fields.items():
            if name not in v:
                if required:
                    return 'lacks the member %r' % name
                continue
            r = checker(v[name])
            if r:
                return '.%s%s' % (name, r if r[0] in '.[' else ' ' + r)
        return None
    return check


def req(c):
    return (c, True)


def opt(c):
    return (c, False)


C_ID = c_pattern(IDENTIFIER, 'an Identifier')
C_SHA = c_pattern(HEX64, 'a Sha256Hex')
C_MAC = c_pattern(MAC, 'a MacAddress')
C_SHORT = c_text(1, 200)
C_LONG = c_text(0, 2000)
C_LONG1 = c_text(1, 2000)
C_VERSION = c_text(1, 64)
C_STEP = c_enum(*STEPS)
C_POS = c_int(1)

UNIT_DATA = {
    'UnitScanned': {'serial': req(C_ID), 'batchId': req(C_ID), 'station': req(C_ID), 'operator': req(C_SHORT),
                    'productSku': req(C_SHORT), 'hardwareRevision': req(C_SHORT), 'chipId': opt(c_text(1, 64)),
                    'mac': opt(C_MAC)},
    'BootloaderWritten': {'serial': req(C_ID), 'imageSha256': req(C_SHA), 'version': req(C_VERSION),
                          'sizeBytes': req(C_POS), 'signingKeyRef': req(C_SHORT), 'signingKeyDigest': req(C_SHA)},
    'AppVerified': {'serial': req(C_ID), 'imageSha256': req(C_SHA), 'version': req(C_VERSION), 'sizeBytes': req(C_POS),
                    'reportedSha256': req(C_SHA), 'method': req(c_enum('flash_readback', 'device_report')),
                    'result': req(c_enum('pass', 'fail'))},
    'ProvisioningApplied': {'serial': req(C_ID), 'templateId': req(C_ID), 'templateSha256': req(C_SHA),
                            'configSha256': req(C_SHA)},
    'EfuseBurned': {'serial': req(C_ID), 'profile': req(C_ID),
                    'fuses': req(c_array(c_object({'name': req(C_SHORT), 'value': req(c_text(0, 512))}), 1, 64)),
                    'keyDigests': req(c_array(C_SHA, 0, 4)), 'secureBoot': req(c_bool), 'flashEncryption': req(c_bool)},
    'StepFailed': {'serial': req(C_ID), 'step': req(C_STEP), 'errorCode': req(c_pattern(ERROR_CODE, 'an error code')),
                   'message': req(C_LONG), 'attempt': req(C_POS)},
    'UnitReworked': {'serial': req(C_ID), 'reason': req(C_LONG1)},
    'UnitScrapped': {'serial': req(C_ID), 'reason': req(C_LONG1), 'failedStep': opt(C_STEP)},
    'UnitShipped': {'serial': req(C_ID), 'customer': req(C_SHORT), 'orderRef': req(C_SHORT)},
}
ADMIN_DATA = {
    'StationRegistered': {'stationId': req(C_ID), 'line': req(C_ID), 'site': req(C_SHORT), 'description': opt(C_LONG)},
    'StationKeyRegistered': {'stationId': req(C_ID), 'keyId': req(C_SHA), 'publicKey': req(C_SHA),
                             'algorithm': req(c_enum('ed25519'))},
    'StationKeyRevoked': {'stationId': req(C_ID), 'keyId': req(C_SHA), 'reason': req(C_LONG1)},
    'ReleaseApproved': {'releaseId': req(C_ID), 'productSku': req(C_SHORT), 'version': req(C_VERSION),
                        'bootloaderSha256': req(C_SHA), 'applicationSha256': req(C_SHA),
                        'provisioningTemplateSha256': req(C_SHA), 'signingKeyDigest': req(C_SHA),
                        'efuseProfile': req(C_ID), 'sbomSha256': opt(C_SHA)},
    'BatchOpened': {'batchId': req(C_ID), 'releaseId': req(C_ID), 'line': req(C_ID), 'productSku': req(C_SHORT),
                    'plannedQuantity': req(c_int(1, 10_000_000))},
    'BatchClosed': {'batchId': req(C_ID), 'reason': opt(C_LONG)},
}
LEDGER_DATA = {
    'AdminKeysTrusted': {'keys': req(c_array(c_object({'keyId': req(C_SHA), 'publicKey': req(C_SHA),
                                                       'name': opt(c_text(0, 100))}), 1, 64))},
    'CheckpointIssued': {'origin': req(c_text(1, 200)), 'size': req(c_int(0)), 'rootHash': req(C_SHA),
                         'note': req(c_text(1, 16384))},
}
# (type, schemaVersion) -> (source kind, data checker)
EVENT_SCHEMAS = {}
for _types, _kind in ((UNIT_DATA, 'station'), (ADMIN_DATA, 'admin'), (LEDGER_DATA, 'ledger')):
    for _t, _fields in _types.items():
        EVENT_SCHEMAS[(_t, 1)] = (_kind, c_object(_fields))


# §2.5 The recipe model's data. Its members are given normatively by the published JSON Schemas
# (schemas/json/data-<Type>.schema.json); the rules JSON Schema cannot say are checked after them (v2_rules).
# Types with a second (recipe) version, and types that exist in one version (1) only since the recipe model.
V2_UNIT_TYPES = {'UnitScanned', 'EfuseBurned', 'ProvisioningApplied', 'StepFailed', 'UnitReworked', 'UnitScrapped',
                 'UnitShipped'}
RECIPE_ONLY_TYPES = {'IdentityRead', 'StepStarted', 'ImagesWritten', 'ImagesVerified', 'SecurityStateRead', 'UnitLocked',
                     'FirmwareUpdated'}  # §2.5: FirmwareUpdated, version 1, signed by a fleet station
V2_ADMIN_TYPES = {'StationRegistered', 'ReleaseApproved'}
SCHEMA_DIR = [None]  # set by main(): the directory of the published JSON Schemas
_JSON_SCHEMAS = {}


def json_schema_for(event_type, version):
    """The published schema of (type, version): data-<Type>.v<N>.schema.json where the type has later versions,
    else data-<Type>.schema.json, the current version (§2.5)."""
    if (event_type, version) not in _JSON_SCHEMAS:
        import os
        directory = SCHEMA_DIR[0] or os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', 'schemas', 'json')
        path = os.path.join(directory, 'data-%s.v%d.schema.json' % (event_type, version))
        if not os.path.exists(path):
            path = os.path.join(directory, 'data-%s.schema.json' % event_type)
        try:
            with open(path, 'rb') as f:
                _JSON_SCHEMAS[(event_type, version)] = json.loads(f.read().decode('utf-8'))
        except (OSError, ValueError):
            refuse(FORMAT_ERROR, 'cannot read the published JSON Schema %s (needed for version 2 data; give --schemas DIR)' % path)
    return _JSON_SCHEMAS[(event_type, version)]


def json_equal(a, b):
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return set(a) == set(b) and all(json_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


_PATTERNS = {}


def _pattern(p):
    r"""An ECMAScript pattern of the schemas as a Python regex: ASCII classes (\d is [0-9] in ECMAScript); the
    schemas anchor every pattern with ^...$, which is a full match (Python's $ would also match before a final LF)."""
    if p not in _PATTERNS:
        if p.startswith('^') and p.endswith('$') and not p.endswith('\\$'):
            rx = re.compile('(?:' + p[1:-1] + ')', re.ASCII)
            _PATTERNS[p] = lambda v, rx=rx: rx.fullmatch(v) is not None
        else:
            rx = re.compile(p.replace('$', r'\Z'), re.ASCII)
            _PATTERNS[p] = lambda v, rx=rx: rx.search(v) is not None
    return _PATTERNS[p]


def json_schema_check(schema, v, path='data'):
    """The subset of JSON Schema 2020-12 the published data schemas use. None, or the reason naming the path."""
    if 'anyOf' in schema:
        if not any(json_schema_check(x, v, path) is None for x in schema['anyOf']):
            return '%s matches none of its alternatives' % path
    if 'oneOf' in schema:
        if sum(1 for x in schema['oneOf'] if json_schema_check(x, v, path) is None) != 1:
            return '%s matches not exactly one of its alternatives' % path
    if 'const' in schema and not json_equal(v, schema['const']):
        return '%s is not %s' % (path, json.dumps(schema['const']))
    if 'enum' in schema and not any(json_equal(v, x) for x in schema['enum']):
        return '%s is not one of %s' % (path, json.dumps(schema['enum']))
    t = schema.get('type')
    if t is not None:
        types = t if isinstance(t, list) else [t]
        ok = False
        for ty in types:
            if ty == 'string' and isinstance(v, str) or ty == 'boolean' and isinstance(v, bool) \
                    or ty == 'null' and v is None or ty == 'object' and isinstance(v, dict) \
                    or ty == 'array' and isinstance(v, list) \
                    or ty == 'number' and isinstance(v, (int, float)) and not isinstance(v, bool) \
                    or ty == 'integer' and is_int(v):
                ok = True
        if not ok:
            return '%s is not of type %s' % (path, '/'.join(types))
    if isinstance(v, str):
        if 'minLength' in schema and len(v) < schema['minLength']:
            return '%s is shorter than %d characters' % (path, schema['minLength'])
        if 'maxLength' in schema and len(v) > schema['maxLength']:
            return '%s is longer than %d characters' % (path, schema['maxLength'])
        if 'pattern' in schema and not _pattern(schema['pattern'])(v):
            return '%s does not match %s' % (path, schema['pattern'])
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        if 'minimum' in schema and v < schema['minimum']:
            return '%s is less than %s' % (path, schema['minimum'])
        if 'maximum' in schema and v > schema['maximum']:
            return '%s is more than %s' % (path, schema['maximum'])
        if 'exclusiveMinimum' in schema and v <= schema['exclusiveMinimum']:
            return '%s is not more than %s' % (path, schema['exclusiveMinimum'])
        if 'exclusiveMaximum' in schema and v >= schema['exclusiveMaximum']:
            return '%s is not less than %s' % (path, schema['exclusiveMaximum'])
    if isinstance(v, list):
        if 'minItems' in schema and len(v) < schema['minItems']:
            return '%s has fewer than %d items' % (path, schema['minItems'])
        if 'maxItems' in schema and len(v) > schema['maxItems']:
            return '%s has more than %d items' % (path, schema['maxItems'])
        if 'items' in schema:
            for i, x in enumerate(v):
                r = json_schema_check(schema['items'], x, '%s[%d]' % (path, i))
                if r:
                    return r
    if isinstance(v, dict):
        props = schema.get('properties', {})
        for name in schema.get('required', ()):
            if name not in v:
                return '%s lacks the member %r' % (path, name)
        for name, x in v.items():
            if name in props:
                r = json_schema_check(props[name], x, '%s.%s' % (path, name))
                if r:
                    return r
            elif schema.get('additionalProperties', True) is False:
                return '%s has the unknown member %r' % (path, name)
            elif isinstance(schema.get('additionalProperties'), dict):
                r = json_schema_check(schema['additionalProperties'], x, '%s.%s' % (path, name))
                if r:
                    return r
    return None


def v2_rules(event_type, d):
    """The §2.5 rules of version 2 data that JSON Schema does not express."""
    if event_type == 'IdentityRead' and d['chipId'] is None and d['mac'] is None:
        return 'IdentityRead has neither chipId nor mac'
    if event_type == 'ImagesVerified':
        for i, im in enumerate(d['images']):
            n = im['comparedChars']
            if len(im['reported']) != n or len(im['expected']) < n:
                return 'ImagesVerified images[%d]: reported is not exactly comparedChars characters, or expected is shorter' % i
            if (im['result'] == 'pass') != (im['reported'] == im['expected'][:n]):
                return 'ImagesVerified images[%d]: result is "pass" exactly when reported is the first comparedChars characters of expected' % i
            if d['method'] in ('readback_sha256', 'tool_compare') and n != 64:
                return 'ImagesVerified images[%d]: %s compares all 64 characters' % (i, d['method'])
        if (d['result'] == 'pass') != all(im['result'] == 'pass' for im in d['images']):
            return 'ImagesVerified result is "pass" exactly when every image passed'
        if ('bootLog' in d) != (d['method'] == 'boot_log_elf_sha256'):
            return 'ImagesVerified bootLog is present exactly for the method boot_log_elf_sha256'
    if event_type == 'SecurityStateRead':
        for i, c in enumerate(d['checks']):
            if c['met'] != (c['actual'] is not None and json_equal(c['actual'], c['equals'])):
                return 'SecurityStateRead checks[%d]: met is true exactly when actual equals equals' % i
        if (d['result'] == 'pass') != all(c['met'] for c in d['checks']):
            return 'SecurityStateRead result is "pass" exactly when every check is met'
    if event_type == 'ReleaseApproved':
        names = [im['name'] for im in d['images']]
        if len(set(names)) != len(names):
            return 'ReleaseApproved images have duplicate names'
    return None


def _v2_checker(event_type, version=2):
    def check(d):
        r = json_schema_check(json_schema_for(event_type, version), d, '')
        if r:
            return r if r.startswith('.') else r.strip()
        return v2_rules(event_type, d)
    return check


for _t in V2_UNIT_TYPES:
    EVENT_SCHEMAS[(_t, 2)] = ('station', _v2_checker(_t))
for _t in V2_ADMIN_TYPES:
    EVENT_SCHEMAS[(_t, 2)] = ('admin', _v2_checker(_t))
for _t in RECIPE_ONLY_TYPES:
    EVENT_SCHEMAS[(_t, 1)] = ('station', _v2_checker(_t, 1))
# §5.4 / §5.5.1: LedgerKeyRotated, version 1 (Ed25519) and 2 (ML-DSA-44), signed by the ledger.
EVENT_SCHEMAS[('LedgerKeyRotated', 1)] = ('ledger', _v2_checker('LedgerKeyRotated', 1))
EVENT_SCHEMAS[('LedgerKeyRotated', 2)] = ('ledger', _v2_checker('LedgerKeyRotated', 2))
# §2.5: StationRegistered version 3 adds the role fleet (the update service that signs FirmwareUpdated).
EVENT_SCHEMAS[('StationRegistered', 3)] = ('admin', _v2_checker('StationRegistered', 3))
# §15.3: CheckpointIssued version 2 carries "mapCommitment": 2, the index log's switch point to v2 leaves (§15.6).
EVENT_SCHEMAS[('CheckpointIssued', 2)] = ('ledger', _v2_checker('CheckpointIssued', 2))

UNIT_TYPES = set(UNIT_DATA) | V2_UNIT_TYPES | RECIPE_ONLY_TYPES


def image_kind(name):
    """§2.5: the kind of a recipe image name."""
    return 'application' if name == 'app' else name
STATION_TYPES = {'StationRegistered', 'StationKeyRegistered', 'StationKeyRevoked'}
ROLE_TYPES = {
    'trust': {'AdminKeysTrusted', 'LedgerKeyRotated'},
    'station': STATION_TYPES,
    'release': {'ReleaseApproved'},
    'batch': {'BatchOpened'},
    'unit': UNIT_TYPES,
}
EVENT_MEMBERS = {'id', 'type', 'schemaVersion', 'occurredAt', 'source', 'prev', 'data'}


def check_event(ev):
    """None when ev is an event of §2.2, else the reason."""
    if not isinstance(ev, dict):
        return 'the payload is not a JSON object'
    for name in ev:
        if name not in EVENT_MEMBERS:
            return 'the event has the unknown member %r' % name
    for name in ('id', 'type', 'schemaVersion', 'occurredAt', 'source', 'prev', 'data'):
        if name not in ev:
            return 'the event lacks %r' % name
    if not isinstance(ev['id'], str) or UUID.fullmatch(ev['id']) is None:
        return 'id is not a UUID'
    if not isinstance(ev['type'], str):
        return 'type is not a string'
    sv = ev['schemaVersion']
    if not is_int(sv):
        return 'schemaVersion is not an integer'
    schema = EVENT_SCHEMAS.get((ev['type'], int(sv)))
    if schema is None:
        return 'no event type %r of schemaVersion %r' % (ev['type'], sv)
    kind, data_check = schema
    r = c_timestamp(ev['occurredAt'])
    if r:
        return 'occurredAt is ' + r
    r = c_object({'kind': req(c_const(kind)), 'id': req(C_ID)})(ev['source'])
    if r:
        return 'source' + (r if r.startswith('.') else ' ' + r)
    if ev['prev'] is not None and C_SHA(ev['prev']):
        return 'prev is neither null nor a Sha256Hex'
    r = data_check(ev['data'])
    if r:
        return 'data' + (r if r.startswith('.') else ' ' + r)
    if ev['type'] == 'AppVerified':
        d = ev['data']
        if (d['result'] == 'pass') != (d['reportedSha256'] == d['imageSha256']):
            return 'AppVerified result is "pass" exactly when reportedSha256 = imageSha256'
    return None


def stream_of(ev):
    t, d = ev['type'], ev['data']
    if t in UNIT_TYPES:
        return 'unit-' + d['serial']
    if t in STATION_TYPES:
        return 'station-' + d['stationId']
    if t == 'ReleaseApproved':
        return 'release-' + d['releaseId']
    if t in ('BatchOpened', 'BatchClosed'):
        return 'batch-' + d['batchId']
    if t == 'AdminKeysTrusted':
        return 'ledger-trust'
    if t == 'LedgerKeyRotated':
        return 'ledger-key-rotations'
    return 'ledger-checkpoints'


# ---------------------------------------------------------------------------------------------------------------
# §2.1 The DSSE envelope: decoding every byte rule (§8.1 step 3).

EVENT_PAYLOAD_TYPE = 'application/vnd.flashtrail.event.v1+json'
STATEMENT_PAYLOAD_TYPE = 'application/vnd.in-toto+json'
MAX_PAYLOAD = 262144
MAX_DEPTH = 64


class Entry:
    """One logged envelope of a document: a provenance entry, a record before the units, or a unit event."""

    def __init__(self, role, leaf_index, envelope, proof, where):
        self.role = role
        self.leaf_index = leaf_index
        self.envelope = envelope
        self.proof = proof          # a TlogProof, or a list of hashes (exports)
        self.where = where
        self.event = None
        self.payload = None
        self.keyid = None
        self.sig = None
        self.envelope_bytes = None
        self.digest = None

    def signed_bytes(self):
        return pae(EVENT_PAYLOAD_TYPE, self.payload)


def decode_envelope(e):
    where = e.where
    env = e.envelope
    if not isinstance(env, dict) or set(env) != {'payload', 'payloadType', 'signatures'}:
        refuse(ENVELOPE_ERROR, 'not a DSSE envelope of exactly payload, payloadType and signatures', **where)
    if env['payloadType'] != EVENT_PAYLOAD_TYPE:
        refuse(ENVELOPE_ERROR, 'the payloadType is not ' + EVENT_PAYLOAD_TYPE, **where)
    sigs = env['signatures']
    if not isinstance(sigs, list) or len(sigs) != 1 or not isinstance(sigs[0], dict) or set(sigs[0]) != {'keyid', 'sig'}:
        refuse(ENVELOPE_ERROR, 'signatures is not an array of exactly one {keyid, sig}', **where)
    keyid, sig_text = sigs[0]['keyid'], sigs[0]['sig']
    if not isinstance(keyid, str) or HEX64.fullmatch(keyid) is None:
        refuse(ENVELOPE_ERROR, 'the keyid is not 64 lowercase hex digits', **where)
    sig = b64decode_strict(sig_text)
    if sig is None or len(sig) != 64:
        refuse(ENVELOPE_ERROR, 'the sig is not canonical base64 of 64 bytes', **where)
    payload_text = env['payload']
    if not isinstance(payload_text, str) or len(payload_text) > MAX_PAYLOAD:
        refuse(ENVELOPE_ERROR, 'the payload is not a string of at most 262,144 characters', **where)
    payload = b64decode_strict(payload_text)
    if payload is None:
        refuse(ENVELOPE_ERROR, 'the payload is not canonical base64', **where)
    text = utf8_strict(payload)
    if text is None or text.startswith('\ufeff'):
        refuse(ENVELOPE_ERROR, 'the payload is not strict UTF-8 without a byte order mark', **where)
    try:
        ev, dup = parse_json(text)
    except ValueError as x:
        refuse(ENVELOPE_ERROR, 'the payload is not JSON (%s)' % x, **where)
    if depth(ev) > MAX_DEPTH:
        refuse(ENVELOPE_ERROR, 'the payload is nested more than 64 levels deep', **where)
    if dup:
        refuse(PAYLOAD_NOT_CANONICAL, 'the payload has duplicate member names', **where)
    try:
        canonical = jcs_bytes(ev)
    except NotCanonicalisable as x:
        refuse(PAYLOAD_NOT_CANONICAL, 'the payload has no RFC 8785 form (%s)' % x, **where)
    if canonical != payload:
        refuse(PAYLOAD_NOT_CANONICAL, 'the payload is not the RFC 8785 text of its value', **where)
    reason = check_event(ev)
    if reason:
        refuse(SCHEMA_ERROR, reason, **where)
    e.event = ev
    e.payload = payload
    e.keyid = keyid
    e.sig = sig
    e.envelope_bytes = jcs_bytes({'payload': payload_text, 'payloadType': env['payloadType'],
                                  'signatures': [{'keyid': keyid, 'sig': sig_text}]})
    e.digest = sha256_hex(e.envelope_bytes)
    where['eventType'] = ev['type']
    where['eventId'] = ev['id']
    if ev['type'] not in ROLE_TYPES.get(e.role, ()):
        refuse(SUBJECT_MISMATCH, 'a %s event is not allowed in the role %r' % (ev['type'], e.role), **where)


def check_leaf_order(entries, ascending):
    """§6.2 / §7.3: a leaf twice is DUPLICATE_ENTRY; where log order is required, a descending one FORMAT_ERROR."""
    seen = set()
    previous = None
    for e in entries:
        if e.leaf_index in seen:
            refuse(DUPLICATE_ENTRY, 'the leaf index %d appears twice' % e.leaf_index, **e.where)
        if ascending and previous is not None and e.leaf_index < previous:
            refuse(FORMAT_ERROR, 'the leaf index %d follows %d: not in log order' % (e.leaf_index, previous), **e.where)
        seen.add(e.leaf_index)
        previous = e.leaf_index


# ---------------------------------------------------------------------------------------------------------------
# §8.1 steps 4-6, shared by provenance documents and exports.

class Keys:
    """What step 5 establishes: administrator key sets by leaf, station key registrations and revocations."""

    def __init__(self, ledger):
        self.ledger = ledger
        self.registrations = {}   # station -> [(leaf, keyId, publicKey bytes)]
        self.revocations = {}     # (station, keyId) -> [leaf]
        self.releases = {}        # releaseId -> ReleaseApproved data
        self.batches = {}         # batchId -> BatchOpened data
        self.chain = None         # LedgerChain (§5.4), where the document's keys were followed

    def station_key_any(self, station, keyid):
        for _leaf, kid, pub in self.registrations.get(station, ()):
            if kid == keyid:
                return pub
        return None

    def live_key(self, station, keyid, leaf):
        """(publicKey, None) for a live registration, else (None, KEY_UNKNOWN | KEY_REVOKED). §8.3."""
        regs = [(r, pub) for r, kid, pub in self.registrations.get(station, ()) if kid == keyid and r < leaf]
        if not regs:
            return None, KEY_UNKNOWN
        revoked_at = self.revocations.get((station, keyid), ())
        for r, pub in regs:
            if not any(r < v < leaf for v in revoked_at):
                return pub, None
        return None, KEY_REVOKED


class LedgerChain:
    """§5.4: the Ed25519 ledger keys a document's LedgerKeyRotated records lead to from the pinned key."""

    def __init__(self, pinned, keys, leaves):
        self.pinned = pinned
        self.keys = keys        # LedgerKey objects, oldest first (the pinned key alone without rotations)
        self.leaves = leaves    # leaf index of each rotation record, ascending
        self.signing = keys[-1]

    def key_at(self, leaf):
        """The key in force at a leaf: the new key of the last rotation at a leaf before it."""
        return self.keys[len([r for r in self.leaves if r < leaf])]

    def by_dsse_keyid(self, keyid):
        for k in self.keys:
            if k.dsse_keyid == keyid:
                return k
        return None


def follow_ledger_key_chain(entries, pinned, where):
    """§5.4: follows the Ed25519 rotations (LedgerKeyRotated version 1) in leaf order from the pinned key; each must
    be signed by the key it replaces and continue the one before (LEDGER_KEY_ERROR), its key ids the SHA-256 of its
    keys (FORMAT_ERROR), its verifierKey the new key under the pinned key's name (LEDGER_KEY_ERROR). ML-DSA-44 links
    (version 2) are not followed here: this verifier has no ML-DSA-44 (their Ed25519 envelopes are checked as records)."""
    rotations = sorted((e for e in entries if e.event['type'] == 'LedgerKeyRotated' and e.event['data']['algorithm'] == 'ed25519'), key=lambda e: e.leaf_index)
    if not rotations:
        return LedgerChain(pinned, [pinned], [])
    keys = []
    for e in rotations:
        d, where = e.event['data'], dict(e.where, leafIndex=e.leaf_index)
        prev_pub, next_pub = bytes.fromhex(d['previousPublicKey']), bytes.fromhex(d['publicKey'])
        if sha256_hex(prev_pub) != d['previousKeyId'] or sha256_hex(next_pub) != d['keyId']:
            refuse(FORMAT_ERROR, 'a key id of the LedgerKeyRotated is not the SHA-256 of its public key', **where)
        if not keys:
            keys.append(ledger_key_of(pinned.name, prev_pub))
        elif keys[-1].dsse_keyid != d['previousKeyId']:
            refuse(LEDGER_KEY_ERROR, 'the chain of ledger keys is broken: this rotation replaces %s, but the key in force before it is %s' % (d['previousKeyId'][:16], keys[-1].dsse_keyid[:16]), **where)
        if e.keyid != d['previousKeyId'] or not ed25519_verify(prev_pub, e.signed_bytes(), e.sig):
            refuse(LEDGER_KEY_ERROR, 'the rotation to %s is not signed by the key it replaces, %s' % (d['keyId'][:16], d['previousKeyId'][:16]), **where)
        try:
            vkey = parse_ledger_key(d['verifierKey'])
        except Refused as x:
            refuse(LEDGER_KEY_ERROR, "the rotation's verifier key is not valid: %s" % x, **where)
        if vkey.name != pinned.name or vkey.public_key != next_pub:
            refuse(LEDGER_KEY_ERROR, "the rotation's verifier key is not %s's new key: a rotation keeps the log's origin" % pinned.name, **where)
        keys.append(vkey)
    if not any(k.dsse_keyid == pinned.dsse_keyid for k in keys):
        refuse(LEDGER_KEY_ERROR, "the pinned ledger key is not in the chain of ledger keys %s" % ' -> '.join(k.key_id.hex() for k in keys), **where)
    return LedgerChain(pinned, keys, [e.leaf_index for e in rotations])


def ml_dsa_rotation_message(origin, previous_key, next_key):
    """§5.5.1: what the replaced ML-DSA-44 key signs to name its successor."""
    name = origin.encode('utf-8')
    return b'flashtrail/ml-dsa-44-key-rotation/v1\n\x00' + bytes([len(name)]) + name + previous_key + next_key


def follow_ml_dsa_key_chain(entries, pinned_name, pinned_pq, where):
    """§5.5.1: the ML-DSA-44 links (LedgerKeyRotated version 2) in leaf order, each key id the SHA-256 of its
    key (FORMAT_ERROR), each continuing the one before from the pinned ML-DSA-44 key and naming its new key under the
    log's name (LEDGER_KEY_ERROR). Their previousKeySignature (ML-DSA-44) is checked only with a pinned ML-DSA-44 key
    and an external ML-DSA-44 program (--ml-dsa-verifier): this verifier has none of its own, and says so. The
    chain's last key (the pinned one without links), or None without a pinned key. Like the Ed25519 chain, it must
    hold the pinned key."""
    links = sorted((e for e in entries if e.event['type'] == 'LedgerKeyRotated' and e.event['data']['algorithm'] == 'ml-dsa-44'), key=lambda e: e.leaf_index)
    keys = []
    for e in links:
        d, where = e.event['data'], dict(e.where, leafIndex=e.leaf_index)
        prev_pub, next_pub = b64decode_strict(d['previousPublicKey']), b64decode_strict(d['publicKey'])
        if prev_pub is None or next_pub is None or sha256_hex(prev_pub) != d['previousKeyId'] or sha256_hex(next_pub) != d['keyId']:
            refuse(FORMAT_ERROR, 'an ML-DSA-44 key id of the LedgerKeyRotated is not the SHA-256 of its public key', **where)
        if not keys:
            keys.append(prev_pub)
        elif prev_pub != keys[-1]:
            refuse(LEDGER_KEY_ERROR, 'the chain of ML-DSA-44 ledger keys is broken: this rotation replaces %s, not the key in force before it' % d['previousKeyId'][:16], **where)
        try:
            vkey = export_v3.parse_ml_dsa_key(d['verifierKey'], b64decode_strict, sha256, refuse, LEDGER_KEY_ERROR)
        except Refused as x:
            refuse(LEDGER_KEY_ERROR, "the ML-DSA-44 rotation's verifier key is not valid: %s" % x, **where)
        if vkey != next_pub or not d['verifierKey'].startswith(pinned_name + '+'):
            refuse(LEDGER_KEY_ERROR, "the ML-DSA-44 rotation's verifier key is not %s's new key: a rotation keeps the log's origin" % pinned_name, **where)
        if pinned_pq is not None and V3_OPTIONS['ml_dsa_verifier'] is not None:
            link = b64decode_strict(d['previousKeySignature'])
            if link is None or len(link) != export_v3.ML_DSA_44_SIGNATURE or not export_v3.ml_dsa_verify(
                    V3_OPTIONS['ml_dsa_verifier'], prev_pub, ml_dsa_rotation_message(pinned_name, prev_pub, next_pub), link, refuse, where):
                refuse(LEDGER_KEY_ERROR, 'the ML-DSA-44 rotation to %s is not signed by the key it replaces, %s' % (d['keyId'][:16], d['previousKeyId'][:16]), **where)
        keys.append(next_pub)
    if pinned_pq is None or not keys:
        return pinned_pq
    # The pinned key may be any key of the chain (an auditor who learnt a later one): the last one signs.
    if pinned_pq not in keys:
        refuse(LEDGER_KEY_ERROR, "the pinned ML-DSA-44 ledger key is not in the chain of ML-DSA-44 ledger keys %s" % ' -> '.join(sha256_hex(k)[:16] for k in keys), **where)
    return keys[-1]


def follow_key_chains(trust_entries, pinned, pinned_pq, where):
    """The ledger-keys step (§5.4, §5.5.1) over decoded LedgerKeyRotated records: the Ed25519 chain (a LedgerChain)
    and the ML-DSA-44 key in force at the checkpoint's size (None without a pinned one). `where` locates a pinned
    key the chain does not hold."""
    return (follow_ledger_key_chain(trust_entries, pinned, where),
            follow_ml_dsa_key_chain(trust_entries, pinned.name, pinned_pq, where))


def admin_keys_from(entries):
    keys = {}
    for e in entries:
        if e.event['type'] == 'AdminKeysTrusted':
            for k in e.event['data']['keys']:
                keys[k['keyId']] = bytes.fromhex(k['publicKey'])
    return keys


def check_inclusion(entries, checkpoint, key_for, proof_hashes):
    """§8.1 step 4 with its order of precedence when a proof fails."""
    failing = None
    for e in entries:
        hashes = proof_hashes(e)
        ok = hashes is not None and inclusion_root(e.leaf_index, checkpoint.size, leaf_hash(e.envelope_bytes), hashes) == checkpoint.root
        if not ok:
            failing = e
            break
    if failing is None:
        return
    e = failing
    pub = key_for(e)
    if pub is None:
        refuse(KEY_UNKNOWN, 'the keyid of this %s is no key the document gives for its role %r' % (e.event['type'], e.role), **dict(e.where, leafIndex=e.leaf_index))
    if not ed25519_verify(pub, e.signed_bytes(), e.sig):
        refuse(SIGNATURE_ERROR, 'the signature of this %s does not verify: it was changed after signing' % e.event['type'], **dict(e.where, leafIndex=e.leaf_index))
    # Rule 3: an entry F whose proof verifies establishes the hashes of its leaf and of the nodes on its path; if E's
    # proof gives one of those subtrees another hash, the stored hash was changed and E merely repeats it: at F.
    claimed = {}
    hashes = proof_hashes(e)
    for (sibling, _node), h in zip(path_ranges(e.leaf_index, checkpoint.size), hashes or ()):
        claimed[sibling] = h
    for f in entries:
        if f is e:
            continue
        f_hashes = proof_hashes(f)
        if f_hashes is None or inclusion_root(f.leaf_index, checkpoint.size, leaf_hash(f.envelope_bytes), f_hashes) != checkpoint.root:
            continue
        for subtree, h in established_nodes(f.leaf_index, checkpoint.size, leaf_hash(f.envelope_bytes), f_hashes):
            if subtree in claimed and claimed[subtree] != h:
                refuse(INCLUSION_PROOF_ERROR, 'the proof of leaf %d gives the subtree [%d, %d) another hash than the verified proof of leaf %d establishes: the log\'s stored hash at leaf %d was changed' % (e.leaf_index, subtree[0], subtree[1], f.leaf_index, f.leaf_index), **dict(f.where, leafIndex=f.leaf_index))
    refuse(INCLUSION_PROOF_ERROR, 'this envelope is not the leaf %d under the checkpoint' % e.leaf_index, **dict(e.where, leafIndex=e.leaf_index))


def path_ranges(index, size):
    """[(sibling range, combined range)] of the RFC 6962 §2.1.1 audit path of leaf index in a tree of size, leaf
    side first; ranges are [start, end) of leaves."""
    out = []

    def walk(m, a, b):
        n = b - a
        if n <= 1:
            return
        k = 1
        while k * 2 < n:
            k *= 2
        if m < a + k:
            walk(m, a, a + k)
            out.append(((a + k, b), (a, b)))
        else:
            walk(m, a + k, b)
            out.append(((a, a + k), (a, b)))
    if 0 <= index < size:
        walk(index, 0, size)
    return out


def established_nodes(index, size, leaf, path):
    """[(range, hash)] of the leaf and of every node a verified audit path computes on the way to the root."""
    out = [((index, index + 1), leaf)]
    r = leaf
    for ((s0, _s1), combined), h in zip(path_ranges(index, size), path):
        r = node_hash(h, r) if s0 < index else node_hash(r, h)
        out.append((combined, r))
    return out


def check_records(admin_entries, keys):
    """§8.1 step 5 over the trust, station, release and batch entries, in leaf order."""
    heads = {}
    current_admin = None
    for e in sorted(admin_entries, key=lambda x: x.leaf_index):
        ev, where = e.event, dict(e.where, leafIndex=e.leaf_index)
        stream = stream_of(ev)
        where['stream'] = stream
        if stream in heads:
            if ev['prev'] != heads[stream]:
                refuse(CHAIN_BROKEN, 'the %s does not chain to the record before it in %s' % (ev['type'], stream), **where)
        elif ev['prev'] is not None:
            refuse(CHAIN_BROKEN, 'the first record of %s in the document is not its first (prev is not null)' % stream, **where)
        heads[stream] = e.digest
        if ev['type'] == 'LedgerKeyRotated':
            # Version 1 is signed by the key it replaces (checked with the chain); version 2, the ML-DSA-44 link, by
            # the Ed25519 key in force at its leaf.
            if ev['schemaVersion'] == 2:
                in_force = keys.chain.key_at(e.leaf_index) if keys.chain else keys.ledger
                if e.keyid != in_force.dsse_keyid or not ed25519_verify(in_force.public_key, e.signed_bytes(), e.sig):
                    refuse(LEDGER_KEY_ERROR, 'the ML-DSA-44 LedgerKeyRotated is not signed by the ledger key in force at its leaf', **where)
            continue
        if ev['type'] == 'AdminKeysTrusted':
            ledger = keys.chain.key_at(e.leaf_index) if keys.chain else keys.ledger
            if e.keyid != ledger.dsse_keyid:
                refuse(KEY_UNKNOWN, 'AdminKeysTrusted is not signed by the ledger key in force at its leaf', **where)
            if not ed25519_verify(ledger.public_key, e.signed_bytes(), e.sig):
                refuse(SIGNATURE_ERROR, 'the ledger signature of AdminKeysTrusted does not verify', **where)
            current_admin = {k['keyId']: bytes.fromhex(k['publicKey']) for k in ev['data']['keys']}
            continue
        if current_admin is None or e.keyid not in current_admin:
            refuse(KEY_UNKNOWN, 'the %s is not signed by an administrator key in force at its leaf' % ev['type'], **where)
        if not ed25519_verify(current_admin[e.keyid], e.signed_bytes(), e.sig):
            refuse(SIGNATURE_ERROR, 'the administrator signature of the %s does not verify' % ev['type'], **where)
        d = ev['data']
        if ev['type'] == 'StationKeyRegistered':
            if sha256_hex(bytes.fromhex(d['publicKey'])) != d['keyId']:
                refuse(FORMAT_ERROR, 'StationKeyRegistered.keyId is not the SHA-256 of its publicKey', **dict(where, field='data.keyId'))
            keys.registrations.setdefault(d['stationId'], []).append((e.leaf_index, d['keyId'], bytes.fromhex(d['publicKey'])))
        elif ev['type'] == 'StationKeyRevoked':
            keys.revocations.setdefault((d['stationId'], d['keyId']), []).append(e.leaf_index)
        elif ev['type'] == 'ReleaseApproved':
            keys.releases[d['releaseId']] = d
        elif ev['type'] == 'BatchOpened':
            keys.batches[d['batchId']] = (d, e)
    for batch_id, (d, e) in keys.batches.items():
        if d['releaseId'] not in keys.releases:
            refuse(SUMMARY_MISMATCH, 'the release %r of batch %r has no ReleaseApproved in the document' % (d['releaseId'], batch_id), **dict(e.where, leafIndex=e.leaf_index))


def check_unit_events(unit_entries, serial, keys):
    """§8.1 step 6 over the unit entries (in the order given)."""
    head = None
    previous_leaf = None
    for n, e in enumerate(unit_entries):
        ev, where = e.event, dict(e.where, leafIndex=e.leaf_index, serial=serial)
        if ev['type'] not in UNIT_TYPES or ev['source']['kind'] != 'station' or ev['data']['serial'] != serial:
            refuse(SUBJECT_MISMATCH, 'this %s is not an event of the unit %r' % (ev['type'], serial), **where)
        pub, why = keys.live_key(ev['source']['id'], e.keyid, e.leaf_index)
        if why == KEY_UNKNOWN:
            refuse(KEY_UNKNOWN, 'no key %s is registered to station %r before leaf %d' % (e.keyid, ev['source']['id'], e.leaf_index), **where)
        if why == KEY_REVOKED:
            refuse(KEY_REVOKED, 'the key %s of station %r was revoked before leaf %d' % (e.keyid, ev['source']['id'], e.leaf_index), **where)
        if not ed25519_verify(pub, e.signed_bytes(), e.sig):
            refuse(SIGNATURE_ERROR, 'the station signature of this %s does not verify' % ev['type'], **where)
        if n == 0:
            if ev['prev'] is not None:
                refuse(CHAIN_BROKEN, 'the unit events do not begin with the first of the stream (prev is not null)', **where)
        elif ev['prev'] != head:
            refuse(CHAIN_BROKEN, 'this %s does not chain to the unit event before it' % ev['type'], **where)
        if previous_leaf is not None and e.leaf_index <= previous_leaf:
            refuse(LOG_ORDER_ERROR, 'this %s follows leaf %d in its stream but precedes it in the log' % (ev['type'], previous_leaf), **where)
        head = e.digest
        previous_leaf = e.leaf_index


def unit_key_for(keys):
    def key_for(e):
        if e.role == 'unit':
            return keys.station_key_any(e.event['source']['id'], e.keyid)
        return None
    return key_for


def admin_key_for(chain, admin_entries):
    any_admin = admin_keys_from(admin_entries)

    def key_for(e):
        if e.role == 'trust':
            k = chain.by_dsse_keyid(e.keyid)
            return k.public_key if k is not None else None
        if e.role in ('station', 'release', 'batch'):
            return any_admin.get(e.keyid)
        return None
    return key_for


def unit_summary(unit_entries):
    """§7.4: batchId of the last UnitScanned; chipId and mac the last non-null ones, in stream order, of a version 1
    UnitScanned or an IdentityRead."""
    batch_id = chip_id = mac = None
    for e in unit_entries:
        ev = e.event
        d = ev['data']
        if ev['type'] == 'UnitScanned':
            batch_id = d['batchId']
        if ev['type'] == 'IdentityRead' or (ev['type'] == 'UnitScanned' and ev['schemaVersion'] == 1):
            if d.get('chipId') is not None:
                chip_id = d['chipId']
            if d.get('mac') is not None:
                mac = d['mac']
    return batch_id, chip_id, mac


def supported_firmware(unit_entries):
    """§7.6: [(kind, digest, version, leaf)] of the firmware the unit events support, in stream order."""
    out = []
    release_of_scan = ''
    for e in unit_entries:
        ev, d = e.event, e.event['data']
        t = ev['type']
        if t == 'UnitScanned' and ev['schemaVersion'] == 2:
            release_of_scan = d['releaseId']
        elif t == 'BootloaderWritten':
            out.append(('bootloader', d['imageSha256'], d['version'], e.leaf_index))
        elif t == 'AppVerified' and d['result'] == 'pass':
            out.append(('application', d['imageSha256'], d['version'], e.leaf_index))
        elif t == 'ImagesVerified' and d['result'] == 'pass' and d['method'] != 'boot_log_elf_sha256':
            for im in d['images']:
                out.append((image_kind(im['name']), im['expected'], release_of_scan, e.leaf_index))
        elif t == 'UnitLocked':
            for im in d['images']:
                out.append((image_kind(im['name']), im['sha256'], release_of_scan, e.leaf_index))
        elif t == 'FirmwareUpdated':
            for im in d['images']:
                out.append((image_kind(im['name']), im['sha256'], d.get('reportedVersion', d['toReleaseId']), e.leaf_index))
    return out


def named_images(unit_entries):
    """§7.5: every image hash the unit events name, whatever became of them."""
    hashes = set()
    for e in unit_entries:
        ev, d = e.event, e.event['data']
        t = ev['type']
        if t in ('BootloaderWritten', 'AppVerified'):
            hashes.add(d['imageSha256'])
        elif t in ('ImagesWritten', 'UnitLocked', 'FirmwareUpdated'):
            hashes.update(im['sha256'] for im in d['images'])
        elif t == 'ImagesVerified' and d['method'] != 'boot_log_elf_sha256':
            for im in d['images']:
                hashes.update(h for h in (im['expected'], im['reported']) if len(h) == 64)
        elif t == 'ProvisioningApplied' and ev['schemaVersion'] == 2 and 'image' in d:
            hashes.add(d['image']['sha256'])
    return hashes


def release_images(release):
    """(kind -> digest) of a ReleaseApproved: v1 bootloader and application, v2 images[] by kind (§2.5, §6.4)."""
    if 'images' in release:
        return {image_kind(im['name']): im['sha256'] for im in release['images']}
    return {'bootloader': release['bootloaderSha256'], 'application': release['applicationSha256']}


# ---------------------------------------------------------------------------------------------------------------
# §6 / §8.1 Provenance documents.

MAX_PROVENANCE = 64 * 1024 * 1024
PROVENANCE_MEMBERS = {'format', 'serial', 'checkpoint', 'entries'}
ENTRY_MEMBERS = {'role', 'leafIndex', 'envelope', 'proof'}


def parse_document(data):
    """A provenance document's or renewal bundle's bytes as one JSON object (§8.1 step 1's first rules)."""
    text = utf8_strict(data)
    if text is None:
        refuse(FORMAT_ERROR, 'the file is not strict UTF-8')
    try:
        doc, dup = parse_json(text)
    except ValueError as x:
        refuse(FORMAT_ERROR, 'the file is not one JSON text (%s)' % x)
    if dup:
        refuse(FORMAT_ERROR, 'the document has duplicate member names')
    if not isinstance(doc, dict):
        refuse(FORMAT_ERROR, 'the document is not a JSON object')
    return doc


def verify_provenance(data, key, map_key=None):
    return verify_provenance_document(parse_document(data), key, map_key, V3_OPTIONS['pq_key'])


def verify_provenance_document(doc, key, map_key, pq_key):
    """§8.1 on a parsed document; `pq_key` the pinned ML-DSA-44 key, or None (the classical policy)."""
    # 1. format
    fmt = doc.get('format')
    if fmt not in ('flashtrail.provenance.v1', 'flashtrail.provenance.v2', 'flashtrail.provenance.v3'):
        refuse(FORMAT_ERROR, 'the format %r is not one this verifier knows' % (fmt,), field='format')
    # §6.7: v3 is v2, with the ledger's statement and (where the ledger keeps the map) the history.
    v3 = fmt == 'flashtrail.provenance.v3'
    v2 = fmt != 'flashtrail.provenance.v1'
    members = PROVENANCE_MEMBERS | {'statement'} if v3 else PROVENANCE_MEMBERS
    for name in doc:
        if name not in members and not (v3 and name == 'history'):
            refuse(FORMAT_ERROR, 'the document has the unknown member %r' % name, field=name)
    for name in members:
        if name not in doc:
            refuse(FORMAT_ERROR, 'the document lacks %r' % name, field=name)
    serial = doc['serial']
    if C_ID(serial):
        refuse(FORMAT_ERROR, 'serial is not an Identifier', field='serial')
    if not isinstance(doc['checkpoint'], str) or not (1 <= len(doc['checkpoint']) <= 16384):
        refuse(FORMAT_ERROR, 'checkpoint is not a note of at most 16,384 characters', field='checkpoint')
    entries_in = doc['entries']
    if not isinstance(entries_in, list) or not (1 <= len(entries_in) <= 1_000_000):
        refuse(FORMAT_ERROR, 'entries is not an array of 1 to 1,000,000 entries', field='entries')
    roles = ('trust', 'station', 'batch', 'release', 'unit') if v2 else ('trust', 'station', 'unit')
    entries = []
    for i, x in enumerate(entries_in):
        where = {'entry': i, 'field': 'entries[%d]' % i}
        if not isinstance(x, dict):
            refuse(FORMAT_ERROR, 'an entry is not an object', **where)
        for name in x:
            if name not in ENTRY_MEMBERS:
                refuse(FORMAT_ERROR, 'an entry has the unknown member %r' % name, **where)
        for name in ENTRY_MEMBERS:
            if name not in x:
                refuse(FORMAT_ERROR, 'an entry lacks %r' % name, **where)
        if x['role'] not in roles:
            refuse(FORMAT_ERROR, 'an entry role is not one of ' + ', '.join(roles), **where)
        if not is_int(x['leafIndex']) or not (0 <= x['leafIndex'] <= MAX_SAFE):
            refuse(FORMAT_ERROR, 'leafIndex is not an integer >= 0', **where)
        if not isinstance(x['proof'], str):
            refuse(FORMAT_ERROR, 'proof is not a tlog-proof text', **where)
        entries.append(Entry(x['role'], int(x['leafIndex']), x['envelope'], x['proof'], where))

    # 3. envelopes, each in document order, then leaf order and uniqueness (decoded before the checkpoint: its key
    # is the last of the chain the trust entries' LedgerKeyRotated records lead to from the pinned key, §5.4)
    for e in entries:
        decode_envelope(e)
    check_leaf_order(entries, ascending=v2)
    chain, pq_last = follow_key_chains([e for e in entries if e.role == 'trust'], key, pq_key, {'field': 'entries'})

    # 2. checkpoint
    checkpoint = verify_checkpoint(doc['checkpoint'], chain.signing, {'field': 'checkpoint'})
    pq_line = check_pq_line(checkpoint, pq_last, {'field': 'checkpoint'})

    # 4. inclusion
    proofs = {}
    for e in entries:
        p = parse_tlog_proof(e.proof, allow_extra=not v2, where=dict(e.where, field=e.where['field'] + '.proof'))
        proofs[id(e)] = p
    admin_entries = [e for e in entries if e.role != 'unit']
    unit_entries = [e for e in entries if e.role == 'unit']
    station_regs = Keys(key)
    for e in admin_entries:  # the keys "the document gives" for unit entries: any registration to their station
        if e.event['type'] == 'StationKeyRegistered':
            d = e.event['data']
            station_regs.registrations.setdefault(d['stationId'], []).append((e.leaf_index, d['keyId'], bytes.fromhex(d['publicKey'])))
    admin_lookup = admin_key_for(chain, admin_entries)
    unit_lookup = unit_key_for(station_regs)

    def key_for(e):
        return unit_lookup(e) if e.role == 'unit' else admin_lookup(e)

    def proof_hashes(e):
        p = proofs[id(e)]
        if p.index != e.leaf_index or p.note != checkpoint.note:
            return None
        return p.hashes
    check_inclusion(entries, checkpoint, key_for, proof_hashes)

    # 5. keys
    keys = Keys(key)
    keys.chain = chain
    check_records(admin_entries, keys)

    # 6. unit
    ordered = sorted(unit_entries, key=lambda x: x.leaf_index) if v2 else unit_entries
    if not unit_entries:
        refuse(FORMAT_ERROR, 'the document has no unit entries')
    check_unit_events(ordered, serial, keys)
    batch_id = release_id = None
    firmware_report = {}
    if v2:
        signers = {e.event['source']['id'] for e in unit_entries}
        station_ids = {e.event['data']['stationId'] for e in admin_entries if e.role == 'station'}
        if station_ids != signers:
            refuse(FORMAT_ERROR, 'the station entries are not exactly the streams of the stations that signed the unit events (%s)' % ', '.join(sorted(station_ids ^ signers)))
        batch_id, _chip, _mac = unit_summary(ordered)
        batch_entries = [e for e in admin_entries if e.role == 'batch']
        release_entries = [e for e in admin_entries if e.role == 'release']
        if batch_id is None:
            if batch_entries or release_entries:
                refuse(FORMAT_ERROR, 'batch or release entries for a unit that was never scanned into a batch')
        else:
            if len(batch_entries) != 1 or batch_entries[0].event['data']['batchId'] != batch_id:
                refuse(FORMAT_ERROR, 'the batch entries are not exactly the BatchOpened of the unit batch %r' % batch_id)
            release_id = batch_entries[0].event['data']['releaseId']
            if len(release_entries) != 1 or release_entries[0].event['data']['releaseId'] != release_id:
                refuse(FORMAT_ERROR, 'the release entries are not exactly the ReleaseApproved of release %r' % release_id)
            # §6.4: whether the firmware the events support is the release's. The specification names no code for a
            # unit that got other firmware (that is a fact the evidence proves, not a fault of the evidence): reported.
            approved = release_images(release_entries[0].event['data'])
            firmware = sorted({(k, h) for k, h, _v, _l in supported_firmware(ordered)})
            firmware_report = {'firmware': [{'kind': k, 'sha256': h, 'isRelease': approved.get(k) == h} for k, h in firmware]}
            # With no supported firmware at all (every verification failed) "all of it is the release's" would be
            # vacuously true; say null instead, and list what was written that is not the release's.
            firmware_report['firmwareIsRelease'] = all(f['isRelease'] for f in firmware_report['firmware']) if firmware else None
            firmware_report['writtenNotRelease'] = sorted({
                (image_kind(im['name']), im['sha256']) for e in ordered if e.event['type'] == 'ImagesWritten'
                for im in e.event['data']['images'] if approved.get(image_kind(im['name'])) != im['sha256']})
    # 7. history (§15.5), with the index log key
    history = None
    if v3 and map_key is not None and 'history' not in doc:
        refuse('HISTORY_INCOMPLETE', 'the document carries no history: nothing proves its unit events complete', serial=serial, field='history')
    if v3 and map_key is not None:
        import flashtrail_history
        history = flashtrail_history.verify_history(sys.modules[__name__], serial, ordered, doc['history'], checkpoint, map_key)
    result = {'ok': True, 'format': fmt, 'serial': serial, 'entries': len(entries),
              'unitEvents': len(unit_entries),
              'checkpoint': {'origin': checkpoint.origin, 'size': checkpoint.size, 'rootHash': checkpoint.root.hex()},
              'checkpointSignatures': {'ed25519': chain.signing.name + '+' + chain.signing.key_id.hex(), 'mlDsa': pq_line}}
    if v2:
        result['batchId'] = batch_id
        result['releaseId'] = release_id
        result.update(firmware_report)
    if history is not None:
        result['history'] = history
    result['notProven'] = ([] if history is not None else ['that no later event of the unit exists (a prefix of its stream, §10)']) + [
                           'that the checkpoint is the newest the ledger signed, or that everyone saw the same tree (§10)',
                           'that the stations reported the truth (§10)']
    if not v2:
        result['notProven'].append("the unit's batch and release (a v1 document does not prove them, §6.6)")
    if v3:
        helpers = type('Helpers', (), {})()
        for name in ('refuse', 'b64decode_strict', 'utf8_strict', 'parse_json', 'jcs_bytes', 'ed25519_verify', 'pae', 'sha256_hex'):
            setattr(helpers, name, globals()[name])
        # The statement is signed by the chains' last keys (§5.4, §5.5.1), followed from the pinned ones.
        helpers.options = dict(V3_OPTIONS, pq_key=pq_last)
        result['statementSignatures'], result['mlDsa'] = export_v3.check_provenance_statement(doc, chain.signing, checkpoint, len(unit_entries), helpers)
    return result


# ---------------------------------------------------------------------------------------------------------------
# §7 / §8.2 Exports.

MAX_LINE = 4 * 1024 * 1024
EXPORT_FORMATS = {'flashtrail.export.v1': 1, 'flashtrail.export.v2': 2, 'flashtrail.export.v3': 3, 'flashtrail.export.v4': 4,
                  'flashtrail.export.v5': 5}
PREDICATE_TYPES = {1: 'https://flashtrail.dev/attestation/traceability-export/v1',
                   2: 'https://flashtrail.dev/attestation/traceability-export/v2',
                   3: 'https://flashtrail.dev/attestation/traceability-export/v3',
                   4: 'https://flashtrail.dev/attestation/traceability-export/v4',
                   5: 'https://flashtrail.dev/attestation/traceability-export/v5'}
ADMIN_RECORDS = {1: ('trust', 'station'), 2: ('trust', 'station', 'release', 'batch'), 3: ('trust', 'station', 'release', 'batch'),
                 4: ('trust', 'station', 'release', 'batch'), 5: ('trust', 'station', 'release', 'batch')}
# §7.6.3: a v5 file's firmware answer in parts of at most this many serials (every part but the last exactly this),
# at most MAX_FIRMWARE_SERIALS in all.
FIRMWARE_PART = 16384
MAX_FIRMWARE_SERIALS = 1_000_000
# v3 (§7.6.1): the statement's second signature and the verifier page, in export_v3.py; given on the command line.
V3_OPTIONS = {'pq_key': None, 'ml_dsa_verifier': None, 'page': None, 'sha256': None}

C_SELECTION = c_object({'batchId': opt(C_ID), 'serials': opt(c_array(C_ID, 1, 100_000)), 'firmwareSha256': opt(C_SHA),
                        'customer': opt(C_SHORT), 'from': opt(c_day), 'to': opt(c_day)})


def c_proof_array(v):
    if not isinstance(v, list) or len(v) > MAX_PROOF:
        return 'not an array of at most 64 hashes'
    for i, h in enumerate(v):
        raw = b64decode_strict(h)
        if raw is None or len(raw) != 32:
            return '[%d] is not base64 of 32 bytes' % i
    return None


def c_any(v):
    return None


C_LOGGED = {'envelope': req(c_any), 'leafIndex': req(c_int(0)), 'proof': req(c_proof_array)}


def c_nullable(c):
    return lambda v: None if v is None else c(v)


def record_schema(version, kind):
    if kind == 'header':
        return c_object({'record': req(c_const('header')), 'format': req(c_const('flashtrail.export.v%d' % version)),
                         'origin': req(c_text(1, 200)), 'createdAt': req(c_timestamp if version >= 2 else c_text(0, 64)),
                         'selection': req(C_SELECTION)})
    if kind == 'checkpoint':
        return c_object({'record': req(c_const('checkpoint')), 'note': req(c_text(1, 16384))})
    if kind in ('trust', 'station', 'release', 'batch'):
        return c_object(dict(C_LOGGED, record=req(c_const(kind))))
    if kind == 'history' and version >= 4:
        # §7.6.2: the shared history evidence; its members' contents are checked by flashtrail_history.py
        return c_object({'record': req(c_const('history')), 'mapRoot': req(C_SHA), 'commitment': req(c_any)})
    if kind == 'firmware' and version >= 5:
        # §7.6.3: one part of the firmware answer; `firmware`'s members are read at the firmware step (§15.4)
        return c_object({'record': req(c_const('firmware')), 'sha256': req(C_SHA),
                         'firmware': req(c_object({'proof': req(c_any), 'value': req(c_any)})),
                         'now': req(c_array(C_ID, 0, FIRMWARE_PART)), 'formerly': req(c_array(C_ID, 0, FIRMWARE_PART))})
    if kind == 'unit':
        any64 = c_text(0, 64)
        return c_object({'record': req(c_const('unit')), 'serial': req(C_ID),
                         **({'history': req(c_object({'value': req(c_any), 'proof': req(c_any)}))} if version >= 4 else {}),
                         'events': req(c_array(c_object(C_LOGGED), 1, 10 ** 9)),
                         'batchId': req(c_nullable(C_ID)),
                         'chipId': req(c_nullable(c_text(1, 64) if version >= 2 else any64)),
                         'mac': req(c_nullable(C_MAC if version >= 2 else any64)),
                         'releaseId': req(c_nullable(C_ID))})
    if kind == 'statement':
        return c_object({'record': req(c_const('statement')), 'envelope': req(c_any)})
    return None


class Line:
    __slots__ = ('number', 'raw', 'value')

    def __init__(self, number, raw, value):
        self.number = number
        self.raw = raw
        self.value = value


def read_lines(path):
    """§7.1, line by line with at most 4 MiB buffered: (number, raw bytes with LF, parsed value)."""
    with open(path, 'rb') as f:
        number = 0
        while True:
            raw = f.readline(MAX_LINE + 1)
            if not raw:
                return
            number += 1
            where = {'line': number}
            if len(raw) > MAX_LINE:
                refuse(FORMAT_ERROR, 'line %d is longer than 4,194,304 bytes' % number, **where)
            if not raw.endswith(b'\n'):
                refuse(FORMAT_ERROR, 'line %d does not end with LF (a truncated file?)' % number, **where)
            body = raw[:-1]
            if not body.startswith(b'{') or not body.endswith(b'}'):
                refuse(FORMAT_ERROR, 'line %d does not start with "{" and end with "}" (whitespace, CR, BOM or not an object)' % number, **where)
            text = utf8_strict(body)
            if text is None:
                refuse(FORMAT_ERROR, 'line %d is not strict UTF-8' % number, **where)
            try:
                value, dup = parse_json(text)
            except ValueError as x:
                refuse(FORMAT_ERROR, 'line %d is not JSON (%s)' % (number, x), **where)
            if not isinstance(value, dict):
                refuse(FORMAT_ERROR, 'line %d is not a JSON object' % number, **where)
            yield Line(number, raw, (value, dup, body))


class ExportReader:
    """§8.2 step 1 applied to every line: framing, JSON, the record kind in its place, its schema, JCS (v2)."""

    def __init__(self, path, key):
        self.path = path
        self.key = key
        self.version = None
        self.firmware_parts = FirmwareParts()

    def lines(self):
        phase = 'header'
        statement_seen = False
        for line in read_lines(self.path):
            value, dup, body = line.value
            where = {'line': line.number}
            if statement_seen:
                refuse(FORMAT_ERROR, 'line %d follows the statement' % line.number, **where)
            kind = value.get('record')
            if not isinstance(kind, str):
                refuse(FORMAT_ERROR, 'line %d has no "record" string' % line.number, **where)
            if line.number == 1:
                if kind != 'header':
                    refuse(FORMAT_ERROR, 'line 1 is not the header', **where)
                version = EXPORT_FORMATS.get(value.get('format')) if isinstance(value.get('format'), str) else None
                if version is None:
                    refuse(FORMAT_ERROR, 'the export format %r is not one this verifier knows' % (value.get('format'),), **dict(where, field='format'))
                self.version = version
            elif line.number == 2:
                if kind != 'checkpoint':
                    refuse(FORMAT_ERROR, 'line 2 is not the checkpoint', **where)
                phase = 'records'
            elif self.version >= 4 and line.number == 3:
                if kind != 'history':
                    refuse(FORMAT_ERROR, 'line 3 of a v%d export is not the history record (§7.6.2)' % self.version, **where)
            elif self.version >= 5 and line.number == 4:
                if kind != 'firmware':
                    refuse(FORMAT_ERROR, 'line 4 of a v5 export is not the firmware record (§7.6.3)', **where)
                phase = 'firmware'
            elif kind == 'firmware' and phase == 'firmware':
                pass  # a further part, checked below once its schema is
            else:
                if phase == 'firmware':
                    phase = 'records'
                    self.firmware_parts.end(where)
                if kind in ADMIN_RECORDS[self.version]:
                    if phase != 'records':
                        refuse(FORMAT_ERROR, 'a %r record after the unit records' % kind, **where)
                elif kind == 'unit':
                    phase = 'units'
                elif kind == 'statement':
                    statement_seen = True
                else:
                    refuse(FORMAT_ERROR, 'line %d is not a record this format has here (%r)' % (line.number, kind), **where)
            reason = record_schema(self.version, kind)(value)
            if reason:
                field = reason.split(' ', 1)[0].lstrip('.') if reason[0] in '.[' else None
                refuse(FORMAT_ERROR, 'the %s record of line %d: %s' % (kind, line.number, reason.lstrip('.')), **dict(where, field=field))
            if self.version >= 2:
                try:
                    canonical = jcs_bytes(value)
                except NotCanonicalisable:
                    canonical = None
                if dup or canonical != body:
                    refuse(RECORD_NOT_CANONICAL, 'line %d is not the RFC 8785 text of its record' % line.number, **where)
            elif dup:
                refuse(FORMAT_ERROR, 'line %d has duplicate member names' % line.number, **where)
            if line.number == 1 and value['origin'] != self.key.name:
                refuse(CHECKPOINT_ORIGIN_ERROR, 'the header origin %r is not the pinned key name %r' % (value['origin'], self.key.name), **where)
            if kind == 'firmware':
                self.firmware_parts.add(value, where)
            yield line, kind, value
        if not statement_seen:
            refuse(FORMAT_ERROR, 'the file ends without its statement (truncated)')


class FirmwareParts:
    """§7.6.3 step 1 over a v5 file's firmware records: the same `sha256` and `firmware` in every part, at most
    FIRMWARE_PART serials in a part and exactly that many in every part but the last, a part with none only as the
    only part, each list strictly ascending in UTF-16 code units across the parts, at most 1,000,000 serials. The
    concatenated lists, once `end` is called."""

    def __init__(self):
        self.parts = 0
        self.first = None
        self.last_size = None
        self.now, self.formerly = [], []

    def add(self, value, where):
        if self.parts and self.last_size != FIRMWARE_PART:
            refuse(FORMAT_ERROR, 'a firmware record follows one of %d serials: every part but the last holds exactly %d' % (self.last_size, FIRMWARE_PART), **where)
        if self.first is None:
            self.first = value
        elif value['sha256'] != self.first['sha256'] or not json_equal(value['firmware'], self.first['firmware']):
            refuse(FORMAT_ERROR, 'the firmware records differ in %s: one answer per file (§7.6.3)' % ('sha256' if value['sha256'] != self.first['sha256'] else 'firmware'), **where)
        size = len(value['now']) + len(value['formerly'])
        if size > FIRMWARE_PART:
            refuse(FORMAT_ERROR, 'a firmware record holds %d serials, more than %d' % (size, FIRMWARE_PART), **where)
        for name, into in (('now', self.now), ('formerly', self.formerly)):
            for i, serial in enumerate(value[name]):
                if into and _utf16_key(serial) <= _utf16_key(into[-1]):
                    refuse(FORMAT_ERROR, 'the firmware answer\'s %s list is not strictly ascending: %r after %r' % (name, serial, into[-1]), **dict(where, field='%s[%d]' % (name, i)))
                into.append(serial)
        if len(self.now) + len(self.formerly) > MAX_FIRMWARE_SERIALS:
            refuse(FORMAT_ERROR, 'the firmware answer holds more than 1,000,000 serials', **where)
        self.parts += 1
        self.last_size = size

    def end(self, where):
        if self.parts > 1 and self.last_size == 0:
            refuse(FORMAT_ERROR, 'the last firmware record holds no serial: a part with none is allowed only as the only part', **where)


def export_checkpoint(trust_entries, key, pq_key, note, where, verified_at_once):
    """§8.2 step 2 once the records before the units are read (§5.4 "In an export"): the chains their rotations
    lead to from the pinned keys, line 2 verified with the Ed25519 chain's last key (again, if it was verified at once
    with the pinned key and the chain leads past it), its ML-DSA-44 line with the ML-DSA-44 chain's last key.
    (chain, ML-DSA-44 key in force or None, checkpoint, what the ML-DSA-44 line check says)."""
    chain, pq_last = follow_key_chains(trust_entries, key, pq_key, {'record': 'trust'})
    checkpoint = verified_at_once
    if checkpoint is None or chain.signing.dsse_keyid != key.dsse_keyid:
        checkpoint = verify_checkpoint(note, chain.signing, where)
    return chain, pq_last, checkpoint, check_pq_line(checkpoint, pq_last, where)


def logged_entry(role, x, where):
    return Entry(role, int(x['leafIndex']), x['envelope'], [b64decode_strict(h) for h in x['proof']], where)


def verify_export(path, key, map_key, pq_key):
    """§8.2; `pq_key` the pinned ML-DSA-44 key (the hybrid policy) or None (the classical policy)."""
    reader = ExportReader(path, key)
    # Step 1 completes over the whole file before step 2 begins (§8 "each MUST complete before the next"): a first
    # pass reads every line with bounded memory; the second pass does the rest.
    for _ in reader.lines():
        pass
    version = reader.version
    v2 = version >= 2
    content = hashlib.sha256()
    records = units = events = 0
    header = checkpoint = None
    admin_entries = []
    keys = None
    previous_serial = None
    previous_admin_leaf = None
    seen_admin_leaves = set()
    v1_station_groups = []
    supported = {}          # (kind, image) -> (leaf, version)
    release_ids = set()
    statement = None
    shared = None           # v4 with the index log key: (map root, index size), §7.6.2
    history_record = None
    firmware_record = None  # v5 (§7.6.3): line 4, the first part of the answer
    answer = None           # v5: the answer's serials, FirmwareAnswer
    for line, kind, value in ExportReader(path, key).lines():
        where = {'line': line.number}
        if kind != 'statement':
            content.update(line.raw)
            records += 1
        if kind == 'header':
            header = value
            continue
        if kind == 'checkpoint':
            # §5.4 "In an export": a note with a line by the pinned key is verified at once; one without once the
            # records before the units are read and their chain followed (errors still at line 2).
            note, note_where = value['note'], dict(where, field='note')
            if note_has_line_by(note, key):
                checkpoint = verify_checkpoint(note, key, note_where)
            continue
        if kind == 'history':
            history_record = value
            continue
        if kind == 'firmware':
            firmware_record = firmware_record or value  # step 1 held every part to the first's sha256 and firmware
            continue
        if kind in ('trust', 'station', 'release', 'batch'):
            # 3. keys: each record as it is read, its place in the order and its envelope
            e = logged_entry(kind, value, dict(where))
            if e.leaf_index in seen_admin_leaves:
                refuse(DUPLICATE_ENTRY, 'the leaf index %d appears twice' % e.leaf_index, **where)
            if v2 and previous_admin_leaf is not None and e.leaf_index < previous_admin_leaf:
                refuse(FORMAT_ERROR, 'the records before the units are not in log order', **where)
            seen_admin_leaves.add(e.leaf_index)
            previous_admin_leaf = e.leaf_index
            decode_envelope(e)
            if not v2:
                if kind == 'trust' and v1_station_groups:
                    refuse(FORMAT_ERROR, 'a trust record after station records (v1: trust first)', **where)
                if kind == 'station':
                    station = e.event['data']['stationId']
                    if v1_station_groups and v1_station_groups[-1] == station:
                        pass
                    elif station in v1_station_groups:
                        refuse(FORMAT_ERROR, 'the records of station %r are not grouped (v1)' % station, **where)
                    else:
                        v1_station_groups.append(station)
            admin_entries.append(e)
            continue
        if keys is None and kind in ('unit', 'statement'):
            # all records before the units are read: the ledger keys they lead to and the checkpoint they sign
            # (§8.2 step 2), then their inclusion and §8.1 step 5
            chain, pq_last, checkpoint, pq_line = export_checkpoint([e for e in admin_entries if e.role == 'trust'], key, pq_key, note, note_where, checkpoint)
            check_inclusion(admin_entries, checkpoint, admin_key_for(chain, admin_entries), lambda e: e.proof)
            keys = Keys(key)
            keys.chain = chain
            check_records(admin_entries, keys)
            # the history step (§7.6.2): the map root committed for the checkpoint, once
            if map_key is not None:
                import flashtrail_history
                if version < 4:
                    refuse('HISTORY_INCOMPLETE', 'the export (v%d) carries no history: nothing proves its units complete' % version, line=3, field='history')
                index_size = flashtrail_history.verify_commitment(sys.modules[__name__], history_record, checkpoint, map_key, {'line': 3})
                shared = (bytes.fromhex(history_record['mapRoot']), index_size)
            if version >= 5:
                answer = firmware_step(reader.firmware_parts, firmware_record, header['selection'], history_record, checkpoint, map_key)
        if kind == 'unit':
            serial = value['serial']
            unit_where = dict(where, serial=serial)
            entries = [logged_entry('unit', x, dict(unit_where, field='events[%d]' % i)) for i, x in enumerate(value['events'])]
            for e in entries:
                decode_envelope(e)
            check_leaf_order(entries, ascending=False)  # log order is step 6's LOG_ORDER_ERROR for stream-ordered events
            check_inclusion(entries, checkpoint, unit_key_for(keys), lambda e: e.proof)
            check_unit_events(entries, serial, keys)
            if shared is not None:
                # before the summary, so that a record with events left out is named as such (§7.6.2)
                import flashtrail_history
                h = value['history']
                v_, p_ = flashtrail_history.check_map_proof_shape(sys.modules[__name__], h, lambda c, m, f: refuse(c, m, **dict(unit_where, field=f)), 'history')
                flashtrail_history.verify_unit(sys.modules[__name__], serial, sorted(entries, key=lambda e: e.leaf_index), v_, p_, shared[0], checkpoint, dict(where), 'history')
            check_summary(value, entries, keys, v2, unit_where)
            if v2:
                check_selection(header['selection'], value, entries, unit_where, answer)
            if previous_serial is not None:
                if _utf16_key(serial) == _utf16_key(previous_serial):
                    refuse(DUPLICATE_ENTRY, 'the unit %r appears twice' % serial, **unit_where)
                if _utf16_key(serial) < _utf16_key(previous_serial):
                    refuse(FORMAT_ERROR, 'the unit records are not in ascending serial order', **unit_where)
            if answer is not None:
                answer.reach(serial, unit_where)
            previous_serial = serial
            units += 1
            events += len(entries)
            if value['releaseId'] is not None:
                release_ids.add(value['releaseId'])
            for kind_, image, ver, leaf in supported_firmware(entries):
                pair = (kind_, image)
                if pair not in supported or leaf < supported[pair][0]:
                    supported[pair] = (leaf, ver)
            continue
        if kind == 'statement':
            statement = (value, where)
            if answer is not None:
                answer.reach(None, where)
    value, where = statement
    result = check_statement(value, where, chain.signing, pq_last, version, header, checkpoint, content.hexdigest(), records,
                             units, events, supported, release_ids, keys)
    result['checkpointSignatures'] = {'ed25519': chain.signing.name + '+' + chain.signing.key_id.hex(), 'mlDsa': pq_line}
    if len(chain.keys) > 1:
        result['ledgerKeys'] = [k.key_id.hex() for k in chain.keys]
    if shared is not None:
        result['history'] = {'complete': True, 'asOfSize': checkpoint.size, 'indexSize': shared[1]}
        result['notProven'] = [n for n in result['notProven'] if not n.startswith('that no later event')]
    if answer is not None:
        result['firmware'] = answer.report(checkpoint)
        if answer.proved and not answer.narrowed:
            result['notProven'] = [n for n in result['notProven'] if not n.startswith('that the export holds every unit')]
    return result


class FirmwareAnswer:
    """A v5 file's answer (§7.6.3): P = now ∪ formerly, whether it is proved (the index log key pinned), and the
    completeness walk over P in serial order as the unit records arrive."""

    def __init__(self, digest, now, formerly, selection, proved):
        self.digest = digest
        self.now_count, self.formerly_count = len(now), len(formerly)
        self.place = dict([(s, 'now') for s in now] + [(s, 'formerly') for s in formerly])
        self.order = sorted(self.place, key=_utf16_key)
        self.proved = proved
        self.narrowed = any(m in selection for m in ('batchId', 'customer', 'from', 'to'))
        self.serials = set(selection['serials']) if 'serials' in selection else None
        self.next = 0
        self.exported = {'now': 0, 'formerly': 0}
        self.left_out = {'now': 0, 'formerly': 0}

    def required(self, serial):
        return not self.narrowed and (self.serials is None or serial in self.serials)

    def reach(self, serial, where):
        """The unit record of `serial` (None: the statement) arrived: every serial of P before it in serial order
        has been passed without a record."""
        while self.next < len(self.order) and (serial is None or _utf16_key(self.order[self.next]) <= _utf16_key(serial)):
            p = self.order[self.next]
            self.next += 1
            if p == serial:
                self.exported[self.place[p]] += 1
                continue
            if self.proved and self.required(p):
                refuse(EXPORT_INCOMPLETE, 'the unit %s, which %s firmware %s as of the checkpoint, has no unit record'
                       % (p, 'carries' if self.place[p] == 'now' else 'carried', self.digest), **dict(where, serial=p))
            if self.serials is None or p in self.serials:
                self.left_out[self.place[p]] += 1

    def report(self, checkpoint):
        out = {'sha256': self.digest, 'now': self.now_count, 'formerly': self.formerly_count, 'exported': self.exported}
        if not self.proved:
            out['checked'] = False
            out['statement'] = 'not checked (no index log key): the firmware answer is not proved, nor that the file holds every unit carrying %s (§10)' % self.digest
        elif self.narrowed:
            out.update(complete=False, asOfSize=checkpoint.size, leftOut=self.left_out,
                       statement='the answer is complete as of checkpoint %d; the selection narrows it, and %d serial(s) of it now and %d formerly have no unit record, not proved to fail the other members (§7.6.3)'
                                 % (checkpoint.size, self.left_out['now'], self.left_out['formerly']))
        else:
            out.update(complete=True, asOfSize=checkpoint.size,
                       statement='the export is complete for firmware %s as of checkpoint %d' % (self.digest, checkpoint.size))
        return out


def firmware_step(parts, record, selection, history_record, checkpoint, map_key):
    """§7.6.3 the firmware step, after the history step: the digest is the selection's (SELECTION_MISMATCH), the
    proof's members parse (FORMAT_ERROR); with the index log key, the commitment is a v2 leaf and §15.6.1 step 4
    holds for the concatenated lists (FIRMWARE_UNITS_INCOMPLETE), located at line 4."""
    import flashtrail_history
    fh_ = flashtrail_history
    where = {'line': 4}
    if record['sha256'] != selection.get('firmwareSha256'):
        refuse(SELECTION_MISMATCH, 'the firmware record is about %s, the selection about %s' % (record['sha256'], selection.get('firmwareSha256')), **dict(where, field='sha256'))
    value, proof = fh_.check_map_proof_shape(sys.modules[__name__], record['firmware'], lambda c, m, f: refuse(c, m, **dict(where, field=f)), 'firmware')
    if value is not None and len(value) != 48:
        refuse(FORMAT_ERROR, 'firmware.value is %d bytes, not the 48 of value(D) (§15.6)' % len(value), **dict(where, field='firmware.value'))
    if map_key is not None:
        fh_.verify_commitment(sys.modules[__name__], history_record, checkpoint, map_key, where, 'history.', want_version=2)
        fh_.check_firmware_lists(sys.modules[__name__], record['sha256'], value, proof, bytes.fromhex(history_record['mapRoot']), parts.now, parts.formerly,
                                 checkpoint.size, lambda c, m, f: refuse(c, m, **dict(where, field=f)))
    return FirmwareAnswer(record['sha256'], parts.now, parts.formerly, selection, map_key is not None)


def check_summary(record, entries, keys, v2, where):
    batch_id, chip_id, mac = unit_summary(entries)
    for field, derived in (('batchId', batch_id), ('chipId', chip_id), ('mac', mac)):
        if record[field] != derived:
            refuse(SUMMARY_MISMATCH, 'the unit record says %s %r; its signed events say %r' % (field, record[field], derived), **dict(where, field=field))
    if not v2:
        return  # §7.8: releaseId cannot be checked in v1 (no batch records)
    if batch_id is None:
        release_id = None
    elif batch_id not in keys.batches:
        refuse(SUMMARY_MISMATCH, 'no BatchOpened record of batch %r supports the releaseId' % batch_id, **dict(where, field='releaseId'))
    else:
        release_id = keys.batches[batch_id][0]['releaseId']
    if record['releaseId'] != release_id:
        refuse(SUMMARY_MISMATCH, 'the unit record says releaseId %r; its batch record says %r' % (record['releaseId'], release_id), **dict(where, field='releaseId'))


def check_selection(selection, record, entries, where, answer=None):
    """§7.5; in a v5 file (answer given) the firmwareSha256 member follows the firmware answer instead (§7.6.3)."""
    def no(member):
        refuse(SELECTION_MISMATCH, 'the unit %r does not satisfy the selection member %r' % (record['serial'], member), **dict(where, field='selection.' + member))
    if 'batchId' in selection and record['batchId'] != selection['batchId']:
        no('batchId')
    if 'serials' in selection and record['serial'] not in selection['serials']:
        no('serials')
    if 'customer' in selection and not any(e.event['type'] == 'UnitShipped' and e.event['data']['customer'] == selection['customer'] for e in entries):
        no('customer')
    if answer is not None:
        import flashtrail_history
        serial = record['serial']
        place = answer.place.get(serial)
        if place is None:
            refuse(SELECTION_MISMATCH, 'the unit %r is not in the firmware answer for %s (neither now nor formerly)' % (serial, answer.digest), **dict(where, field='selection.firmwareSha256'))
        now, ever = flashtrail_history.carries(image_kind, [e.event for e in sorted(entries, key=lambda e: e.leaf_index)], answer.digest)
        if (place == 'now' and not now) or (place == 'formerly' and (now or not ever)):
            refuse('FIRMWARE_UNITS_INCOMPLETE', 'the unit %r is in the answer\'s %s list, but its events say it %s %s' % (
                serial, place, 'carries' if now else 'carried' if ever else 'never carried', answer.digest), **dict(where, field=place))
    elif 'firmwareSha256' in selection and selection['firmwareSha256'] not in named_images(entries):
        no('firmwareSha256')
    day = entries[0].event['occurredAt'][:10]
    if 'from' in selection and day < selection['from']:
        no('from')
    if 'to' in selection and day > selection['to']:
        no('to')


def statement_schema(version):
    subject = c_object({'name': req(C_SHORT), 'digest': req(c_object({'sha256': req(C_SHA)}))})
    predicate = c_object({
        'format': req(c_const('flashtrail.export.v%d' % version)),
        'origin': req(c_text(1, 200)),
        'createdAt': req(c_timestamp if version >= 2 else c_text(0, 64)),
        'selection': req(C_SELECTION),
        'checkpoint': req(c_object({'size': req(c_int(0)), 'rootHash': req(C_SHA)})),
        'content': req(c_object({'sha256': req(C_SHA), 'records': req(c_int(0)), 'units': req(c_int(0)),
                                 'events': req(c_int(0))})),
        'sboms': req(c_array(c_object({'releaseId': req(C_ID), 'sha256': req(C_SHA),
                                       'mediaType': req(c_const('application/vnd.cyclonedx+json'))}), 0, 10 ** 9)),
        **({'verifierPage': req(c_nullable(c_object({'name': req(c_const('verify.html')), 'sha256': req(C_SHA)})))} if version >= 3 else {}),
    })
    return c_object({'_type': req(c_const('https://in-toto.io/Statement/v1')),
                     'predicateType': req(c_const(PREDICATE_TYPES[version])),
                     'subject': req(c_array(subject, 0, 10 ** 9)), 'predicate': req(predicate)})


def check_statement(record, where, key, pq_key, version, header, checkpoint, content_hex, records, units, events, supported,
                    release_ids, keys):
    """§8.2 step 5; `key` and `pq_key` the ledger keys in force at the checkpoint's size (the chains' last)."""
    v2 = version >= 2
    where = dict(where, field='statement')
    env = record['envelope']
    if not isinstance(env, dict) or set(env) != {'payload', 'payloadType', 'signatures'}:
        refuse(FORMAT_ERROR, 'the statement envelope has not exactly payload, payloadType and signatures', **where)
    sigs = env['signatures']
    if not isinstance(env['payload'], str) or not isinstance(env['payloadType'], str) or not isinstance(sigs, list) \
            or not all(isinstance(s, dict) and set(s) == {'keyid', 'sig'} and isinstance(s['keyid'], str) and isinstance(s['sig'], str) for s in sigs):
        refuse(FORMAT_ERROR, 'the statement envelope is not a DSSE envelope', **where)
    payload = b64decode_strict(env['payload'])
    if payload is None:
        refuse(FORMAT_ERROR, 'the statement payload is not canonical base64', **where)
    if env['payloadType'] != STATEMENT_PAYLOAD_TYPE:
        refuse(STATEMENT_SIGNATURE_ERROR, 'the statement payloadType is not ' + STATEMENT_PAYLOAD_TYPE, **where)
    signed_with = ['Ed25519']
    if version >= 3:
        signed_with, pq_note = export_v3.check_signatures(
            sigs, key.dsse_keyid, lambda sig: ed25519_verify(key.public_key, pae(STATEMENT_PAYLOAD_TYPE, payload), sig),
            pq_key, V3_OPTIONS['ml_dsa_verifier'], pae(STATEMENT_PAYLOAD_TYPE, payload), b64decode_strict,
            refuse, STATEMENT_SIGNATURE_ERROR, where)
    elif len(sigs) != 1:
        refuse(STATEMENT_SIGNATURE_ERROR, 'the statement has not exactly one signature', **where)
    if sigs[0]['keyid'] != key.dsse_keyid:
        refuse(STATEMENT_SIGNATURE_ERROR, 'the statement keyid is not the pinned ledger key', **where)
    sig = b64decode_strict(sigs[0]['sig'])
    if sig is None or len(sig) != 64 or not ed25519_verify(key.public_key, pae(STATEMENT_PAYLOAD_TYPE, payload), sig):
        refuse(STATEMENT_SIGNATURE_ERROR, 'the statement signature does not verify under the pinned ledger key', **where)
    text = utf8_strict(payload)
    if text is None or text.startswith('\ufeff'):
        refuse(FORMAT_ERROR, 'the statement payload is not strict UTF-8', **where)
    try:
        st, dup = parse_json(text)
    except ValueError as x:
        refuse(FORMAT_ERROR, 'the statement payload is not JSON (%s)' % x, **where)
    try:
        canonical = jcs_bytes(st)
    except NotCanonicalisable:
        canonical = None
    if dup or canonical != payload:
        refuse(PAYLOAD_NOT_CANONICAL, 'the statement payload is not the RFC 8785 text of its value', **where)
    reason = statement_schema(version)(st)
    if reason:
        refuse(FORMAT_ERROR, 'the statement ' + reason, **where)
    pred = st['predicate']
    c = pred['content']
    if c['sha256'] != content_hex or c['records'] != records or c['units'] != units or c['events'] != events:
        refuse(CONTENT_DIGEST_ERROR, 'the bytes or counts before the statement are not those it commits to (sha256 %s, %d records, %d units, %d events)' % (content_hex, records, units, events), **dict(where, field='statement.predicate.content'))
    for member in ('origin', 'createdAt'):
        if pred[member] != header[member]:
            refuse(PREDICATE_MISMATCH, 'the predicate %s is not the header\'s' % member, **dict(where, field='statement.predicate.' + member))
    if jcs(pred['selection']) != jcs(header['selection']):
        refuse(PREDICATE_MISMATCH, 'the predicate selection is not the header\'s', **dict(where, field='statement.predicate.selection'))
    if pred['checkpoint']['size'] != checkpoint.size or pred['checkpoint']['rootHash'] != checkpoint.root.hex():
        refuse(PREDICATE_MISMATCH, 'the predicate checkpoint is not the checkpoint of line 2', **dict(where, field='statement.predicate.checkpoint'))
    subjects = st['subject']
    if v2:
        expected = sorted(({'name': '%s %s' % (kind, ver), 'digest': {'sha256': image}} for (kind, image), (_leaf, ver) in supported.items()),
                          key=lambda s: (s['digest']['sha256'], _utf16_key(s['name'])))
        if subjects != expected:
            refuse(SUBJECT_MISMATCH, 'the statement subjects are not exactly the firmware the exported events support', **dict(where, field='statement.subject'))
    else:
        digests = [s['digest']['sha256'] for s in subjects]
        if len(set(digests)) != len(digests) or set(digests) != {image for (_kind, image) in supported}:
            refuse(SUBJECT_MISMATCH, 'the statement subject digests are not exactly the images the exported events support', **dict(where, field='statement.subject'))
    if v2:
        sboms = []
        for rid in sorted(release_ids, key=_utf16_key):
            rel = keys.releases.get(rid)
            if rel is not None and 'sbomSha256' in rel:
                sboms.append({'releaseId': rid, 'sha256': rel['sbomSha256'], 'mediaType': 'application/vnd.cyclonedx+json'})
        if pred['sboms'] != sboms:
            refuse(PREDICATE_MISMATCH, 'the predicate sboms are not those of the exported units\' releases', **dict(where, field='statement.predicate.sboms'))
    result = {'ok': True, 'format': 'flashtrail.export.v%d' % version, 'units': units, 'events': events,
              'records': records, 'selection': header['selection'],
              'checkpoint': {'origin': checkpoint.origin, 'size': checkpoint.size, 'rootHash': checkpoint.root.hex()},
              'subjects': subjects, 'statementSignatures': signed_with}
    if version >= 3:
        result['mlDsa'] = pq_note
        result['verifierPage'] = export_v3.check_page(pred['verifierPage'], V3_OPTIONS['page'], refuse, where)
    elif V3_OPTIONS['page'] is not None:
        refuse('VERIFIER_PAGE_MISMATCH', 'a verifier page was given, but a v%d statement names none' % version, **where)
    result['notProven'] = ['that the export holds every unit its selection matches (§10)',
                           'that no later event of any unit exists (prefixes of streams, §10)',
                           'that the checkpoint is the newest the ledger signed (§10)',
                           'that the stations reported the truth (§10)']
    if not v2:
        result['notProven'].append('v1: the units\' releaseId, the sboms, the selection and the subject names were not checked (§7.8)')
    return result


# ---------------------------------------------------------------------------------------------------------------
# The command line.

# ---------------------------------------------------------------------------------------------------------------
# §14 Renewal bundles (flashtrail.renewal.v1, v2).

RENEWAL_FORMATS = ('flashtrail.renewal.v1', 'flashtrail.renewal.v2', 'flashtrail.renewal.v3')


def consistency_ok(m, n, old_root, new_root, proof):
    """RFC 9162 §2.1.4.2: whether `proof` shows the tree of size n (new_root) extends the tree of size m (old_root)."""
    if m > n:
        return False
    if m == n:
        return not proof and old_root == new_root
    if m == 0:
        return not proof
    if m & (m - 1) == 0:
        proof = [old_root] + list(proof)
    if not proof:
        return False
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not (fn & 1) and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root


def checkpoint_body(note):
    """Size and root of a checkpoint note already verified (its body's second and third lines)."""
    lines = note[:note.find('\n\n')].split('\n')
    return int(lines[1]), b64decode_strict(lines[2])


def check_renewal_members(doc):
    """§14, §14.1 format: the bundle's members and shapes (FORMAT_ERROR), `evidence` (v1, v2) or `subject` (v3)."""
    fmt = doc['format']
    members = {'format', 'checkpoint', 'consistency'} | ({'rotations'} if fmt != 'flashtrail.renewal.v1' else set()) \
        | ({'subject'} if fmt == 'flashtrail.renewal.v3' else {'evidence'})
    for name in doc:
        if name not in members:
            refuse(FORMAT_ERROR, 'the bundle has the unknown member %r' % name, field=name)
    for name in members:
        if name not in doc:
            refuse(FORMAT_ERROR, 'the bundle lacks %r' % name, field=name)
    if not isinstance(doc['checkpoint'], str) or not (1 <= len(doc['checkpoint']) <= 16384):
        refuse(FORMAT_ERROR, 'checkpoint is not a note of at most 16,384 characters', field='checkpoint')
    if not isinstance(doc['consistency'], list) or len(doc['consistency']) > 64 or not all(isinstance(h, str) for h in doc['consistency']):
        refuse(FORMAT_ERROR, 'consistency is not an array of at most 64 base64 hashes', field='consistency')
    rotations_in = doc.get('rotations', [])
    if not isinstance(rotations_in, list) or len(rotations_in) > 1000:
        refuse(FORMAT_ERROR, 'rotations is not an array of at most 1,000 records', field='rotations')
    for i, r in enumerate(rotations_in):
        if not isinstance(r, dict) or set(r) - {'leafIndex', 'envelope', 'proof'} or not is_int(r.get('leafIndex')) \
                or not (0 <= r['leafIndex'] <= MAX_SAFE) or not isinstance(r.get('proof'), str) or 'envelope' not in r:
            refuse(FORMAT_ERROR, 'rotations[%d] is not {leafIndex, envelope, proof}' % i, field='rotations[%d]' % i)
    if 'evidence' in members and not isinstance(doc['evidence'], dict):
        refuse(FORMAT_ERROR, 'evidence is not a provenance document', field='evidence')
    if 'subject' in members:
        subject = doc['subject']
        if not isinstance(subject, dict) or set(subject) != {'kind', 'sha256', 'checkpoint'} or subject['kind'] != 'export' \
                or not isinstance(subject['sha256'], str) or HEX64.fullmatch(subject['sha256']) is None \
                or not isinstance(subject['checkpoint'], str) or not (1 <= len(subject['checkpoint']) <= 16384):
            refuse(FORMAT_ERROR, 'subject is not {"kind": "export", "sha256": <64 lowercase hex>, "checkpoint": <note>}', field='subject')


def as_evidence_failure(r, field_prefix=None):
    """The evidence step's failure, its code kept (§14): located under `evidence` (v2) or where it is in the export (v3)."""
    where = dict(r.where)
    if field_prefix is not None:
        where['field'] = field_prefix + ('.' + where['field'] if 'field' in where else '')
    return Refused(r.code, 'evidence: ' + r.message, **where)


def require_pq_key():
    """§14: a renewal claims ML-DSA-44 coverage, so it is verified only with the ML-DSA-44 key pinned, before any step."""
    if V3_OPTIONS['pq_key'] is None:
        refuse(LEDGER_KEY_ERROR, "a renewal bundle is verified with the ledger's ML-DSA-44 key: give --ledger-pq-key")


def verify_renewal(doc, key, map_key=None):
    """§14: format, the evidence as made (classical), then the renewal steps. This verifier has no ML-DSA-44: the
    renewal checkpoint's ML-DSA-44 line is checked in form only (check_pq_line) unless an external program verifies
    it, and the result says which (never "renewed, ML-DSA-44 verified" without one)."""
    require_pq_key()
    check_renewal_members(doc)
    try:
        evidence = verify_provenance_document(doc['evidence'], key, map_key, None)
    except Refused as r:
        raise as_evidence_failure(r, 'evidence')
    return {'ok': True, 'format': doc['format'], 'evidence': evidence,
            'renewal': renewal_steps(doc, key, doc['evidence']['checkpoint'])}


def export_subject(path):
    """§14.1: what names an export, the SHA-256 of every byte of the file and its line-2 note (the file verified)."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            digest.update(chunk)
    for line in read_lines(path):
        if line.number == 2:
            return digest.hexdigest(), line.value[0]['note']


def verify_export_renewal(export_path, doc, key, map_key=None):
    """§14.1 (flashtrail.renewal.v3 with its export E): format; E verified as an export with the classical policy;
    the subject (SHA-256 of E, E's line-2 note); then the renewal steps of §14 from E's checkpoint."""
    require_pq_key()
    check_renewal_members(doc)
    try:
        evidence = verify_export(export_path, key, map_key, None)
    except Refused as r:
        raise as_evidence_failure(r)
    sha, note = export_subject(export_path)
    subject = doc['subject']
    if sha != subject['sha256'] or note != subject['checkpoint']:
        refuse(RENEWAL_SUBJECT_MISMATCH, 'the bundle names another export: the file hashes to %s%s' % (
            sha, '' if note == subject['checkpoint'] else ', and its line-2 checkpoint is not subject.checkpoint'),
            field='subject', evidence={'sha256': sha, 'subjectSha256': subject['sha256'], 'checkpoint': note,
                                       'subjectCheckpoint': subject['checkpoint']})
    return {'ok': True, 'format': doc['format'], 'evidence': evidence, 'renewal': renewal_steps(doc, key, note)}


def renewal_steps(doc, key, older_note):
    """§14 after the evidence step (v2 and v3 alike): ledger-keys over the bundle's rotations, the renewal checkpoint
    with the chains' last keys (hybrid with a pinned ML-DSA-44 key), the rotations' inclusion in it, and the
    consistency from `older_note` (the evidence's verified checkpoint) to it. What the renewal proves."""
    # ledger-keys: the rotations as entries, in strictly ascending leaf order, both chains followed
    rotations = []
    for i, r in enumerate(doc.get('rotations', [])):
        e = Entry('trust', int(r['leafIndex']), r['envelope'], r['proof'], {'field': 'rotations[%d]' % i})
        decode_envelope(e)
        if e.event['type'] != 'LedgerKeyRotated':
            refuse(SUBJECT_MISMATCH, "a renewal bundle's rotations are LedgerKeyRotated records, not %s" % e.event['type'], **dict(e.where, leafIndex=e.leaf_index))
        if rotations and rotations[-1].leaf_index >= e.leaf_index:
            refuse(DUPLICATE_ENTRY if rotations[-1].leaf_index == e.leaf_index else FORMAT_ERROR, 'rotations must be in strictly ascending leaf order', **dict(e.where, leafIndex=e.leaf_index))
        rotations.append(e)
    chain, pq_last = follow_key_chains(rotations, key, V3_OPTIONS['pq_key'], {'field': 'rotations'})
    # renewal checkpoint, then the rotations' inclusion in it
    renewing = verify_checkpoint(doc['checkpoint'], chain.signing, {'field': 'checkpoint'})
    pq_line = check_pq_line(renewing, pq_last, {'field': 'checkpoint'})
    hashes = []
    for i, h in enumerate(doc['consistency']):
        raw = b64decode_strict(h)
        if raw is None or len(raw) != 32:
            refuse(FORMAT_ERROR, 'consistency[%d] is not base64 of a 32-byte hash' % i, field='consistency[%d]' % i)
        hashes.append(raw)
    proofs = {id(e): parse_tlog_proof(e.proof, allow_extra=False, where=dict(e.where, field=e.where['field'] + '.proof')) for e in rotations}

    def proof_hashes(e):
        p = proofs[id(e)]
        return p.hashes if p.index == e.leaf_index and p.note == renewing.note else None

    def key_for(e):
        k = chain.by_dsse_keyid(e.keyid)
        return k.public_key if k is not None else None
    check_inclusion(rotations, renewing, key_for, proof_hashes)
    # consistency: the evidence's tree is a prefix of the renewal checkpoint's
    old_size, old_root = checkpoint_body(older_note)
    evidence_of_fork = {'olderCheckpoint': older_note, 'newerCheckpoint': renewing.note}
    if renewing.size < old_size:
        refuse(CONSISTENCY_PROOF_ERROR, "the renewal checkpoint's tree (%d) is smaller than the evidence's (%d)" % (renewing.size, old_size), field='consistency', evidence=evidence_of_fork)
    if not consistency_ok(old_size, renewing.size, old_root, renewing.root, hashes):
        refuse(CONSISTENCY_PROOF_ERROR, 'tree %d does not extend tree %d: the log was rewritten between the two checkpoints (or the proof is wrong)' % (renewing.size, old_size), field='consistency', evidence=evidence_of_fork)
    return {'size': renewing.size, 'rotations': len(rotations),
            'signatures': ['Ed25519'] + (['ML-DSA-44'] if pq_last is not None and V3_OPTIONS['ml_dsa_verifier'] is not None else []),
            'mlDsa': pq_line,
            'statement': 'the evidence\'s tree %d is a prefix of tree %d, signed with Ed25519 by %s' % (old_size, renewing.size, chain.signing.name)}


def is_export_file(path):
    """A file whose first line is a JSON object with a "record" member is an export."""
    with open(path, 'rb') as f:
        first = f.readline(MAX_LINE + 1)
    if not (first.endswith(b'\n') or len(first) <= MAX_LINE):
        return False
    text = utf8_strict(first.rstrip(b'\n'))
    if text is None:
        return False
    try:
        v, _dup = parse_json(text)
    except ValueError:
        return False
    return isinstance(v, dict) and 'record' in v


def read_document(path):
    """A provenance document or renewal bundle: one JSON object of at most 64 MiB, parsed once."""
    with open(path, 'rb') as f:
        data = f.read(MAX_PROVENANCE + 1)
    if len(data) > MAX_PROVENANCE:
        refuse(FORMAT_ERROR, 'the document is larger than 64 MiB', file=path)
    return parse_document(data)


def detect_and_verify(path, key, map_key=None, renewal_path=None):
    """FILE an export (with --renewal, the export a flashtrail.renewal.v3 bundle names), else a provenance document
    or a renewal bundle v1/v2."""
    if renewal_path is not None:
        if not is_export_file(path):
            refuse(FORMAT_ERROR, '--renewal BUNDLE renews an export: FILE must be the export the bundle names (§14.1)', file=path)
        bundle = read_document(renewal_path)
        if bundle.get('format') != 'flashtrail.renewal.v3':
            refuse(FORMAT_ERROR, '--renewal names a flashtrail.renewal.v3 bundle, not %r' % (bundle.get('format'),), file=renewal_path, field='format')
        return verify_export_renewal(path, bundle, key, map_key)
    if is_export_file(path):
        return verify_export(path, key, map_key, V3_OPTIONS['pq_key'])
    doc = read_document(path)
    if doc.get('format') == 'flashtrail.renewal.v3':
        refuse(FORMAT_ERROR, 'a flashtrail.renewal.v3 bundle is verified with the export it names: give the export as FILE and the bundle as --renewal BUNDLE (§14.1)', field='format')
    if doc.get('format') in RENEWAL_FORMATS:
        return verify_renewal(doc, key, map_key)
    if doc.get('format') == 'flashtrail.firmware-units.v1':
        import flashtrail_history
        if map_key is None:
            refuse(LEDGER_KEY_ERROR, 'a firmware answer is proved by the index log: give its verifier key with --map-key (GET /v1/unit-map/key, §15.3)', field='firmware')
        return flashtrail_history.verify_firmware_answer(sys.modules[__name__], doc, key, map_key, V3_OPTIONS['pq_key'], V3_OPTIONS['sha256'])
    if V3_OPTIONS['sha256'] is not None:
        refuse(FORMAT_ERROR, '--sha256 names the digest of a firmware answer (flashtrail.firmware-units.v1), and FILE is none', field='format')
    return verify_provenance_document(doc, key, map_key, V3_OPTIONS['pq_key'])


def emit(obj):
    sys.stdout.write(json.dumps(obj, ensure_ascii=True, sort_keys=False) + '\n')
    sys.stdout.flush()


def main(argv):
    args = argv[1:]
    key_text = None
    map_key_text = None
    renewal_path = None
    files = []
    i = 0
    while i < len(args):
        if args[i] == '--ledger-key' and i + 1 < len(args):
            key_text = args[i + 1]
            i += 2
        elif args[i] == '--map-key' and i + 1 < len(args):
            map_key_text = args[i + 1]
            i += 2
        elif args[i] == '--renewal' and i + 1 < len(args):
            renewal_path = args[i + 1]
            i += 2
        elif args[i] == '--sha256' and i + 1 < len(args):
            V3_OPTIONS['sha256'] = args[i + 1]
            i += 2
        elif args[i] == '--schemas' and i + 1 < len(args):
            SCHEMA_DIR[0] = args[i + 1]
            i += 2
        elif args[i] in ('--ledger-pq-key', '--ml-dsa-verifier', '--page') and i + 1 < len(args):
            V3_OPTIONS[{'--ledger-pq-key': 'pq_key', '--ml-dsa-verifier': 'ml_dsa_verifier', '--page': 'page'}[args[i]]] = args[i + 1]
            i += 2
        elif args[i].startswith('--ledger-key='):
            key_text = args[i].split('=', 1)[1]
            i += 1
        else:
            files.append(args[i])
            i += 1
    try:
        if Ed25519PublicKey is None:
            refuse(LEDGER_KEY_ERROR, 'python3-cryptography is not installed: no Ed25519 verification possible')
        if key_text is None:
            refuse(LEDGER_KEY_ERROR, 'usage: flashtrail_verify.py --ledger-key KEY FILE (no --ledger-key given)')
        key = parse_ledger_key(key_text)
        if V3_OPTIONS['pq_key'] is not None:
            V3_OPTIONS['pq_key'] = export_v3.parse_ml_dsa_key(V3_OPTIONS['pq_key'], b64decode_strict, sha256, refuse, LEDGER_KEY_ERROR)
        if V3_OPTIONS['page'] is not None:
            try:
                with open(V3_OPTIONS['page'], 'rb') as f:
                    V3_OPTIONS['page'] = f.read(64 * 1024 * 1024)
            except OSError as x:
                refuse(FORMAT_ERROR, 'cannot read the verifier page %s: %s' % (V3_OPTIONS['page'], x.strerror or x), file=V3_OPTIONS['page'])
        if V3_OPTIONS['sha256'] is not None and re.fullmatch(r'[0-9a-f]{64}', V3_OPTIONS['sha256']) is None:
            refuse(FORMAT_ERROR, '--sha256 is a firmware image digest, 64 lowercase hex digits')
        if len(files) != 1:
            refuse(FORMAT_ERROR, 'usage: flashtrail_verify.py --ledger-key KEY FILE (give exactly one FILE)')
        try:
            result = detect_and_verify(files[0], key, parse_ledger_key(map_key_text) if map_key_text is not None else None, renewal_path)
        except OSError as x:
            refuse(FORMAT_ERROR, 'cannot read %s: %s' % (files[0], x.strerror or x), file=files[0])
        emit(result)
        return 0
    except Refused as r:
        out = {'ok': False, 'code': r.code, 'message': r.message}
        if r.where:
            out['where'] = r.where
        emit(out)
        return 1
    except (RecursionError, MemoryError) as x:
        emit({'ok': False, 'code': FORMAT_ERROR, 'message': 'the input exceeds what can be verified (%s)' % type(x).__name__})
        return 1
    except Exception as x:  # a bug of this verifier must still end in one coded line, never a traceback
        emit({'ok': False, 'code': FORMAT_ERROR, 'message': 'internal error of the verifier: %s: %s' % (type(x).__name__, x)})
        return 1


if __name__ == '__main__':
    sys.exit(main(sys.argv))
