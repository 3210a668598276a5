"""The `history` member of flashtrail.provenance.v3, checked from docs/format.md §15 alone.

Used by flashtrail_verify.py when it is given the index log's verifier key (--map-key). `fv` is that module: its
encodings, its note and inclusion checks and its Refused, so that a failure here is reported like any other.

§15.1 the tree (torchwood's mpt hashing: leaf, inner node, presence/absence proofs), §15.2 the value of a unit
(count, last leaf, chain), §15.3 the commitment leaf, §15.5 the verification, in its order.
"""

import hashlib
import re

HISTORY_INCOMPLETE = 'HISTORY_INCOMPLETE'
FIRMWARE_UNITS_INCOMPLETE = 'FIRMWARE_UNITS_INCOMPLETE'
HISTORY_MEMBERS = {'mapRoot', 'value', 'proof', 'commitment'}
COMMITMENT_MEMBERS = {'index', 'proof', 'checkpoint'}
MAX_KEY = 1024
MAX_VALUE = 64 * 1024


def sha256(data):
    return hashlib.sha256(data).digest()


def varint(n):
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def read_varint(data, at):
    """A shortest-form protobuf varint at `at`: (value, next offset), or None."""
    value, shift = 0, 0
    for i in range(at, min(len(data), at + 9)):
        b = data[i]
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            if b == 0 and i > at:
                return None  # not the shortest form
            return value, i + 1
    return None


def key_bit(key, bit):
    """Bit `bit` of the key as padded: the key, then 0x00, then 0xFF bytes (§15.1)."""
    i = bit >> 3
    byte = key[i] if i < len(key) else (0x00 if i == len(key) else 0xFF)
    return (byte >> (7 - (bit & 7))) & 1


def mpt_leaf(key, value):
    return sha256(b'\x00' + varint(len(key)) + key + varint(len(value)) + value)


def mpt_inner(bit, left, right):
    return sha256(b'\x01' + varint(bit) + left + right)


def read_steps(proof, at):
    steps = []
    while at < len(proof):
        r = read_varint(proof, at)
        if r is None or r[1] + 32 > len(proof):
            return None
        bit, at = r
        if steps and bit >= steps[-1][0]:
            return None  # B strictly decreasing from the leaf up
        steps.append((bit, proof[at:at + 32]))
        at += 32
    return steps


def climb(key, leaf, steps):
    h = leaf
    for bit, sibling in steps:
        h = mpt_inner(bit, sibling, h) if key_bit(key, bit) else mpt_inner(bit, h, sibling)
    return h


def verify_lookup(root, key, value, proof):
    """§15.1: `value` under `key` (presence), or `key` absent when value is None."""
    if root == sha256(b''):
        return value is None and proof == b''
    if value is not None:
        steps = read_steps(proof, 0)
        return steps is not None and climb(key, mpt_leaf(key, value), steps) == root
    r = read_varint(proof, 0)
    if r is None or r[0] > MAX_KEY or r[1] + r[0] > len(proof):
        return False
    alt_key = proof[r[1]:r[1] + r[0]]
    at = r[1] + r[0]
    r = read_varint(proof, at)
    if r is None or r[0] > MAX_VALUE or r[1] + r[0] > len(proof):
        return False
    alt_value = proof[r[1]:r[1] + r[0]]
    steps = read_steps(proof, r[1] + r[0])
    if steps is None or alt_key == key or any(key_bit(alt_key, b) != key_bit(key, b) for b, _ in steps):
        return False
    return climb(alt_key, mpt_leaf(alt_key, alt_value), steps) == root


def history_key(serial):
    return sha256(b'flashtrail/serial/v1\x00' + serial.encode('utf-8'))


def history_value(events):
    """§15.2: (count, last leaf, chain) of events given as (leaf index, RFC 6962 leaf hash), in log order."""
    chain = sha256(b'flashtrail/unit-history/v1\x00')
    for index, leaf in events:
        chain = sha256(chain + index.to_bytes(8, 'big') + leaf)
    return len(events).to_bytes(8, 'big') + (events[-1][0] if events else 0).to_bytes(8, 'big') + chain


def commitment_leaf(checkpoint, map_root, version=1):
    """§15.3: the index log leaf text for a ledger checkpoint and its map root; version 2 from the switch point."""
    import base64
    return ('flashtrail/map-commitment/v%d\n%s\n%d\n%s\nunit-map %s\n' % (
        version, checkpoint.origin, checkpoint.size, base64.b64encode(checkpoint.root).decode('ascii'), map_root.hex())).encode('utf-8')


def verify_history(fv, serial, unit_entries, history, checkpoint, map_key):
    """§15.5, in order. unit_entries: the document's verified unit entries, in log order."""
    def refuse(code, message, field):
        fv.refuse(code, message, serial=serial, field=field)

    # §15.4 the member's shape
    if not isinstance(history, dict) or set(history) != HISTORY_MEMBERS:
        refuse(fv.FORMAT_ERROR, 'history is not an object of exactly mapRoot, value, proof, commitment', 'history')
    value, proof = check_map_proof_shape(fv, history, refuse, 'history')
    index_size = verify_commitment(fv, history, checkpoint, map_key, {'serial': serial}, 'history.', 'unit %s: ' % serial)
    verify_unit(fv, serial, unit_entries, value, proof, bytes.fromhex(history['mapRoot']), checkpoint, {'serial': serial}, 'history')
    return {'complete': True, 'asOfSize': checkpoint.size, 'events': len(unit_entries), 'indexSize': index_size}


def check_map_proof_shape(fv, h, refuse, at):
    """§15.4 value and proof: (value bytes or None, proof bytes)."""
    value = None
    if h['value'] is not None:
        value = fv.b64decode_strict(h['value']) if isinstance(h['value'], str) and len(h['value']) <= 128 else None
        if value is None:
            refuse(fv.FORMAT_ERROR, '%s.value is not canonical base64' % at, at + '.value')
    proof = fv.b64decode_strict(h['proof']) if isinstance(h['proof'], str) and len(h['proof']) <= 32768 else None
    if proof is None:
        refuse(fv.FORMAT_ERROR, '%s.proof is not canonical base64 of at most 32,768 characters' % at, at + '.proof')
    return value, proof


def verify_commitment(fv, h, checkpoint, map_key, where, prefix='', subject='', want_version=None):
    """§15.5 steps 1 and 2 for h's mapRoot and commitment (a document's history, or a v4 export's history record).
    Returns the index checkpoint's size."""
    def refuse(code, message, field):
        fv.refuse(code, message, **dict(where, field=field))

    c = h['commitment']
    if not isinstance(c, dict) or set(c) != COMMITMENT_MEMBERS:
        refuse(fv.FORMAT_ERROR, '%scommitment is not an object of exactly index, proof, checkpoint' % prefix, prefix + 'commitment')
    if not isinstance(h['mapRoot'], str) or re.fullmatch(r'[0-9a-f]{64}', h['mapRoot']) is None:
        refuse(fv.FORMAT_ERROR, '%smapRoot is not 64 lowercase hex digits' % prefix, prefix + 'mapRoot')
    if not fv.is_int(c['index']) or not (0 <= c['index'] <= fv.MAX_SAFE):
        refuse(fv.FORMAT_ERROR, '%scommitment.index is not an integer >= 0' % prefix, prefix + 'commitment.index')
    if not isinstance(c['proof'], list) or len(c['proof']) > 64:
        refuse(fv.FORMAT_ERROR, '%scommitment.proof is not an array of at most 64 hashes' % prefix, prefix + 'commitment.proof')
    if not isinstance(c['checkpoint'], str) or not (1 <= len(c['checkpoint']) <= 16384):
        refuse(fv.FORMAT_ERROR, '%scommitment.checkpoint is not a note of at most 16,384 characters' % prefix, prefix + 'commitment.checkpoint')
    path = []
    for i, x in enumerate(c['proof']):
        raw = fv.b64decode_strict(x) if isinstance(x, str) else None
        if raw is None or len(raw) != 32:
            refuse(fv.FORMAT_ERROR, '%scommitment.proof[%d] is not base64 of 32 bytes' % (prefix, i), prefix + 'commitment.proof')
        path.append(raw)

    # 1. the index checkpoint, by the pinned index log key of the ledger's origin + "/unit-map"
    if map_key.name != checkpoint.origin + '/unit-map':
        refuse(fv.LEDGER_KEY_ERROR, 'the index log key is for %r, not %r' % (map_key.name, checkpoint.origin + '/unit-map'), prefix + 'commitment.checkpoint')
    index = fv.verify_checkpoint(c['checkpoint'], map_key, dict(where, field=prefix + 'commitment.checkpoint'))

    # 2. the commitment leaf for this checkpoint and the claimed map root, in the index log
    # The leaf names its version (v1, or v2 from the switch point); the evidence does not: one must be included.
    map_root = bytes.fromhex(h['mapRoot'])

    def included(version):
        leaf = fv.sha256(b'\x00' + commitment_leaf(checkpoint, map_root, version))
        return c['index'] < index.size and fv.inclusion_root(c['index'], index.size, leaf, path) == index.root
    version = 2 if included(2) else 1 if included(1) else None
    if version is None:
        refuse(HISTORY_INCOMPLETE, '%smap root %s is not what the index log commits for checkpoint %d' % (subject, h['mapRoot'][:16], checkpoint.size), prefix + 'commitment')
    if want_version is not None and version != want_version:
        refuse(FIRMWARE_UNITS_INCOMPLETE, '%sthe index log commits a v1 map root (unit histories only) for checkpoint %d: no firmware answer is proved by it' % (subject, checkpoint.size), prefix + 'commitment')
    return index.size


def verify_unit(fv, serial, unit_entries, value, proof, map_root, checkpoint, where, field):
    """§15.5 step 3: the map proof under the committed root, and the value the unit's events give."""
    def refuse(code, message, f):
        fv.refuse(code, message, **dict(where, serial=serial, field=f))

    if value is None:
        refuse(HISTORY_INCOMPLETE, 'unit %s: the history claims the map holds no event of the unit' % serial, field + '.value')
    if len(value) != 48 or not verify_lookup(map_root, history_key(serial), value, proof):
        refuse(HISTORY_INCOMPLETE, 'unit %s: the map proof does not show this value under the map root' % serial, field + '.proof')
    ours = history_value([(e.leaf_index, fv.leaf_hash(e.envelope_bytes)) for e in unit_entries])
    if ours != value:
        count, last = int.from_bytes(value[:8], 'big'), int.from_bytes(value[8:16], 'big')
        fv.refuse(HISTORY_INCOMPLETE, 'unit %s: the map holds %d event(s) of it as of size %d, the last at leaf %d; the record holds %d'
                  % (serial, count, checkpoint.size, last, len(unit_entries)), **dict(where, serial=serial, field=field, leafIndex=last))
