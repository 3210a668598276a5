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


def mpt_root(entries):
    """§15.1: the root of the tree holding `entries`, (key, value) pairs with distinct keys. The shape depends only
    on the set of keys: sorted by their padded bits, a set of one is its leaf, a larger one splits at the first bit
    where its keys differ (all keys of a sorted run agree before the bit where its first and last differ).
    ValueError on a key given twice."""
    if not entries:
        return sha256(b'')
    width = max(len(k) for k, _ in entries) + 1  # padded this far, distinct keys differ (a key, then 0x00, then 0xFF)
    items = sorted((int.from_bytes(k + b'\x00' + b'\xff' * (width - 1 - len(k)), 'big'), k, v) for k, v in entries)
    bits = width * 8
    for a, b in zip(items, items[1:]):
        if a[0] == b[0]:
            raise ValueError('the key %s is given twice' % a[1].hex())

    def build(lo, hi):
        if hi - lo == 1:
            return mpt_leaf(items[lo][1], items[lo][2])
        bit = bits - (items[lo][0] ^ items[hi - 1][0]).bit_length()
        mask = 1 << (bits - 1 - bit)
        a, b = lo + 1, hi - 1  # the first item whose key has the bit set: after lo (clear), at most hi - 1 (set)
        while a < b:
            m = (a + b) // 2
            if items[m][0] & mask:
                b = m
            else:
                a = m + 1
        return mpt_inner(bit, build(lo, a), build(a, hi))
    return build(0, len(items))


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


def check_commitment_shape(fv, h, where, prefix=''):
    """§15.4 mapRoot and commitment: their members and forms (FORMAT_ERROR). Returns the inclusion path's hashes."""
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
    return path


def verify_commitment(fv, h, checkpoint, map_key, where, prefix='', subject='', want_version=None):
    """§15.5 steps 1 and 2 for h's mapRoot and commitment (a document's history, a v4 export's history record, a
    firmware answer's `firmware`). Returns the index checkpoint's size."""
    def refuse(code, message, field):
        fv.refuse(code, message, **dict(where, field=field))

    path = check_commitment_shape(fv, h, where, prefix)
    c = h['commitment']

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


# ---------------------------------------------------------------------------------------------------------------
# §15.6 the firmware part of the map, §15.6.1 the answer (flashtrail.firmware-units.v1).

FIRMWARE_UNITS_FORMAT = 'flashtrail.firmware-units.v1'
FIRMWARE_ANSWER_MEMBERS = {'format', 'sha256', 'checkpoint', 'now', 'formerly', 'firmware'}
MAX_SERIALS = 1_000_000


def firmware_key(digest):
    """§15.6: key(D) for the 32 bytes of D."""
    return sha256(b'flashtrail/firmware/v1\x00' + digest)


def firmware_set_root(now, formerly):
    """§15.6 setRoot(D): key(serial) -> 0x01 || serial for those carrying D now, 0x00 || serial for the others."""
    return mpt_root([(history_key(s), b'\x01' + s.encode('utf-8')) for s in now]
                    + [(history_key(s), b'\x00' + s.encode('utf-8')) for s in formerly])


def verify_firmware_answer(fv, answer, ledger_key, map_key, pq_key=None, want_sha256=None):
    """§15.6.1 on a parsed answer, in its order: (1) the shape, (2) the ledger checkpoint under the pinned ledger
    key, (3) §15.5 steps 1-2 for `firmware` under the pinned index log key, by a v2 leaf, (4) the value of key(D)
    under the committed map root, and both lists against it. want_sha256: the digest the user asked about."""
    def refuse(code, message, field):
        fv.refuse(code, message, field=field)

    # (1) the shape (§15.6.1's table, §15.4 for `firmware`)
    if not isinstance(answer, dict):
        refuse(fv.FORMAT_ERROR, 'the answer is not a JSON object', None)
    for name in answer:
        if name not in FIRMWARE_ANSWER_MEMBERS:
            refuse(fv.FORMAT_ERROR, 'the answer has the unknown member %r' % name, name)
    for name in sorted(FIRMWARE_ANSWER_MEMBERS):
        if name not in answer:
            refuse(fv.FORMAT_ERROR, 'the answer lacks %r' % name, name)
    if answer['format'] != FIRMWARE_UNITS_FORMAT:
        refuse(fv.FORMAT_ERROR, 'format is not %r' % FIRMWARE_UNITS_FORMAT, 'format')
    digest_hex = answer['sha256']
    if not isinstance(digest_hex, str) or re.fullmatch(r'[0-9a-f]{64}', digest_hex) is None:
        refuse(fv.FORMAT_ERROR, 'sha256 is not 64 lowercase hex digits', 'sha256')
    if want_sha256 is not None and digest_hex != want_sha256:
        refuse(fv.FORMAT_ERROR, 'the answer is about %s, not %s' % (digest_hex, want_sha256), 'sha256')
    if not isinstance(answer['checkpoint'], str) or not (1 <= len(answer['checkpoint']) <= 16384):
        refuse(fv.FORMAT_ERROR, 'checkpoint is not a note of at most 16,384 characters', 'checkpoint')
    lists = {}
    for name in ('now', 'formerly'):
        v = answer[name]
        if not isinstance(v, list) or len(v) > MAX_SERIALS:
            refuse(fv.FORMAT_ERROR, '%s is not an array of at most 1,000,000 serials' % name, name)
        for i, s in enumerate(v):
            if not isinstance(s, str) or fv.C_ID(s):
                refuse(fv.FORMAT_ERROR, '%s[%d] is not a serial (an Identifier)' % (name, i), '%s[%d]' % (name, i))
            # Serials are ASCII (§2.2 Identifier): code point, UTF-16 and byte order agree. Strictly ascending
            # (§15.6.1), so a serial twice in one list is malformed; one in both lists is step 4's FIRMWARE_UNITS_INCOMPLETE.
            if i and s <= v[i - 1]:
                refuse(fv.FORMAT_ERROR, '%s is not strictly ascending: %r after %r' % (name, s, v[i - 1]), '%s[%d]' % (name, i))
        lists[name] = v
    firmware = answer['firmware']
    if not isinstance(firmware, dict) or set(firmware) != HISTORY_MEMBERS:
        refuse(fv.FORMAT_ERROR, 'firmware is not an object of exactly mapRoot, value, proof, commitment', 'firmware')
    value, proof = check_map_proof_shape(fv, firmware, lambda c, m, f: refuse(c, m, f), 'firmware')
    if value is not None and len(value) != 48:
        refuse(fv.FORMAT_ERROR, 'firmware.value is %d bytes, not the 48 of value(D) (§15.6)' % len(value), 'firmware.value')
    check_commitment_shape(fv, firmware, {}, 'firmware.')

    # (2) the ledger checkpoint of size N, by the pinned ledger key (and the hybrid policy's line when pinned)
    checkpoint = fv.verify_checkpoint(answer['checkpoint'], ledger_key, {'field': 'checkpoint'})
    ml_dsa = fv.check_pq_line(checkpoint, pq_key, {'field': 'checkpoint'})

    # (3) the index log commits this map root for that checkpoint, by a v2 leaf (firmware in the root)
    subject = 'firmware %s: ' % digest_hex
    index_size = verify_commitment(fv, firmware, checkpoint, map_key, {}, 'firmware.', subject, want_version=2)

    # (4) value(D), or its absence, under the committed root; both lists against it
    held_now, held_ever = check_firmware_lists(fv, digest_hex, value, proof, bytes.fromhex(firmware['mapRoot']), lists['now'], lists['formerly'],
                                               checkpoint.size, lambda code, message, field: refuse(code, message, field))
    return {'ok': True, 'format': FIRMWARE_UNITS_FORMAT, 'sha256': digest_hex,
            'checkpoint': {'origin': checkpoint.origin, 'size': checkpoint.size, 'rootHash': checkpoint.root.hex()},
            'firmware': {'complete': True, 'asOfSize': checkpoint.size, 'now': held_now, 'formerly': held_ever - held_now,
                         'ever': held_ever, 'indexSize': index_size, 'mapRoot': firmware['mapRoot']},
            'checkpointSignatures': {'ed25519': ledger_key.name + '+' + ledger_key.key_id.hex(), 'mlDsa': ml_dsa},
            'statement': 'complete as of checkpoint %d: %d unit(s) carry %s now, %d carried it formerly'
                         % (checkpoint.size, held_now, digest_hex, held_ever - held_now),
            'notProven': ['that no unit reported the digest after checkpoint %d (§15.6: complete as of it; §5.3 for freshness)' % checkpoint.size,
                          'that the checkpoint is the newest the ledger signed, or that everyone saw the same tree (§10)',
                          'that the stations reported the truth (§10)']}


def check_firmware_lists(fv, digest_hex, value, proof, map_root, now, formerly, size, refuse):
    """§15.6.1 step 4: `proof` proves `value` (or absence) for key(D) under `map_root`; with null both lists are
    empty; otherwise no serial twice, `now` has value's first count, both lists its second, and setRoot rebuilt
    from them is its last 32 bytes. refuse(code, message, field). Returns (now count, ever count)."""
    subject = 'firmware %s: ' % digest_hex
    if not verify_lookup(map_root, firmware_key(bytes.fromhex(digest_hex)), value, proof):
        refuse(FIRMWARE_UNITS_INCOMPLETE, '%sthe map proof does not show %s under the committed map root %s'
               % (subject, 'this value' if value is not None else 'the absence of the digest', map_root.hex()[:16]), 'firmware.proof')
    if value is None:
        if now or formerly:
            refuse(FIRMWARE_UNITS_INCOMPLETE, '%sthe map holds no unit carrying it as of size %d; the answer names %d now and %d formerly'
                   % (subject, size, len(now), len(formerly)), 'now' if now else 'formerly')
        return 0, 0
    held_now, held_ever = int.from_bytes(value[:8], 'big'), int.from_bytes(value[8:16], 'big')

    def incomplete(why, field):
        refuse(FIRMWARE_UNITS_INCOMPLETE, '%s%s: the map holds %d unit(s) carrying it now and %d formerly as of size %d; the answer names %d now and %d formerly'
               % (subject, why, held_now, held_ever - held_now, size, len(now), len(formerly)), field)
    seen = set()
    for name, serials in (('now', now), ('formerly', formerly)):
        for i, s in enumerate(serials):
            if s in seen:
                incomplete('the serial %s is listed twice' % s, '%s[%d]' % (name, i))
            seen.add(s)
    if len(now) != held_now:
        incomplete('a unit is missing from, or added to, the list of those carrying it now', 'now')
    if len(now) + len(formerly) != held_ever:
        incomplete('a unit is missing from, or added to, the units that ever carried it', 'formerly')
    if firmware_set_root(now, formerly) != value[16:]:
        incomplete('the lists name other serials, or a serial in the wrong list, than the committed set', 'now')
    return held_now, held_ever


def reported_slots(image_kind, ev):
    """§15.6 "What a unit carries": [(slot, digest hex)] a unit event reports, in the event's order; [] for the
    others (rework, scrap, ship change nothing). image_kind: §2.5's kind of a recipe image name."""
    t, d = ev['type'], ev['data']
    if t == 'BootloaderWritten':
        return [('bootloader', d['imageSha256'])]
    if t == 'AppVerified':
        return [('application', d['reportedSha256'])]  # what the device reported, pass or fail
    if t in ('ImagesWritten', 'UnitLocked', 'FirmwareUpdated'):
        return [(image_kind(im['name']), im['sha256']) for im in d.get('images', [])]
    if t == 'ImagesVerified':
        if d['method'] not in ('readback_sha256', 'tool_compare'):
            return []  # boot_log_elf_sha256: an ELF digest, not an image's
        return [(image_kind(im['name']), im['reported']) for im in d['images']]
    if t == 'ProvisioningApplied' and ev['schemaVersion'] == 2 and 'image' in d:
        return [(image_kind(d['image']['name']), d['image']['sha256'])]
    return []


def carries(image_kind, events, digest_hex):
    """(now, ever): whether a unit whose events (in log order) are `events` carries D after the last of them, and
    whether it carried D after any of them (§15.6)."""
    slots, ever = {}, False
    for ev in events:
        for slot, digest in reported_slots(image_kind, ev):
            slots[slot] = digest
        if digest_hex in slots.values():
            ever = True
    return digest_hex in slots.values(), ever
