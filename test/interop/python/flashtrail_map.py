#!/usr/bin/env python3
"""Rebuild flashtrail's unit history map and its index log from the event log, from docs/format.md §15 alone.

    python3 flashtrail_map.py --ledger-key KEY --map-key KEY --url URL --token-file FILE

What a monitor does with `flashtrail monitor --map-key` (§15.3 "Monitoring"), written independently: it reads the
ledger's entries (GET /v1/log/entries, leaf order), applies the mapping function (§15.2 unit histories, §15.6 the
firmware part) and the switch point (the first committing `CheckpointIssued` of version 2, `"mapCommitment": 2`),
makes every index log leaf (§15.3) and compares the index log's root with the index checkpoint the ledger signed
(GET /v1/unit-map/checkpoint). A difference is `MAP_ROOT_MISMATCH` (or `MAP_COMMITMENT_FORMAT` for a leaf of the
wrong version), naming the first index leaf that differs (GET /v1/unit-map/leaves) and both texts.

The entries are tied to the ledger checkpoint (GET /v1/checkpoint, verified with the pinned ledger key): the RFC 6962
root of its first `size` entries must be its root, and each `CheckpointIssued` note's root must be the root of the
entries before its size (`LOG_ROOT_MISMATCH`). Each entry is decoded and checked against §2.2 (SCHEMA_ERROR naming
the leaf; other types are only decoded); signatures are not verified here (the evidence verifier, flashtrail_verify.py, and a monitor's audit do).

Cost: the roots are rebuilt from the whole state at each committed size (O(n) each, not the ledger's O(log n)
updates), and the entries are held in memory: meant for an auditor's check of the mapping function, not for
following a large log live. Pin the ledger key in force now (the newest checkpoint is verified with it; the
key chain of §5.4 is not followed here).

The last line of stdout is one JSON object, {"ok": true, ...} (exit 0) or {"ok": false, "code", "message", "where"}
(exit 1). Python 3.11's standard library and python3-cryptography only (through flashtrail_verify.py).
"""

import base64
import json
import os
import sys
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import flashtrail_verify as fv  # noqa: E402
import flashtrail_history as fh  # noqa: E402

MAP_ROOT_MISMATCH = 'MAP_ROOT_MISMATCH'
MAP_COMMITMENT_FORMAT = 'MAP_COMMITMENT_FORMAT'
LOG_ROOT_MISMATCH = 'LOG_ROOT_MISMATCH'
PAGE = 1000


def merkle_root(leaves):
    """RFC 6962 §2.1 MTH over leaf hashes."""
    if not leaves:
        return fv.sha256(b'')
    level = list(leaves)
    # Bottom-up with the odd node carried up unchanged: the same tree as the recursive largest-power-of-two split.
    while len(level) > 1:
        nxt = [fv.sha256(b'\x01' + level[i] + level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


class MapState:
    """The map as of the leaves applied so far (§15.2, §15.6)."""

    def __init__(self):
        self.units = {}      # serial -> [count, last leaf, chain]
        self.slots = {}      # serial -> {slot: digest hex}
        self.firmware = {}   # digest hex -> {serial: True (now) | False (formerly)}
        self._set_roots = {}  # digest hex -> setRoot(D), dropped when its set changes

    def apply(self, leaf_index, leaf, ev):
        serial = ev['data']['serial']
        u = self.units.setdefault(serial, [0, 0, fv.sha256(b'flashtrail/unit-history/v1\x00')])
        u[0] += 1
        u[1] = leaf_index
        u[2] = fv.sha256(u[2] + leaf_index.to_bytes(8, 'big') + leaf)
        reported = fh.reported_slots(fv.image_kind, ev)
        if not reported:
            return
        slots = self.slots.setdefault(serial, {})
        before = set(slots.values())
        for slot, digest in reported:
            slots[slot] = digest
        after = set(slots.values())
        for digest in before - after:
            self.firmware[digest][serial] = False
            self._set_roots.pop(digest, None)
        for digest in after - before:
            self.firmware.setdefault(digest, {})[serial] = True
            self._set_roots.pop(digest, None)

    def set_root(self, digest):
        if digest not in self._set_roots:
            members = self.firmware[digest]
            self._set_roots[digest] = fh.firmware_set_root([s for s, now in members.items() if now], [s for s, now in members.items() if not now])
        return self._set_roots[digest]

    def firmware_value(self, digest):
        members = self.firmware[digest]
        now = sum(1 for v in members.values() if v)
        return now.to_bytes(8, 'big') + len(members).to_bytes(8, 'big') + self.set_root(digest)

    def root(self, version):
        """The map root: v1 the unit histories only, v2 with the firmware keys (§15.3)."""
        entries = [(fh.history_key(s), u[0].to_bytes(8, 'big') + u[1].to_bytes(8, 'big') + u[2]) for s, u in self.units.items()]
        if version == 2:
            entries += [(fh.firmware_key(bytes.fromhex(d)), self.firmware_value(d)) for d in self.firmware]
        return fh.mpt_root(entries)

    def carrying(self, digest):
        """(now, formerly) serials carrying digest, sorted (§15.6.1's lists)."""
        members = self.firmware.get(digest, {})
        return sorted(s for s, v in members.items() if v), sorted(s for s, v in members.items() if not v)


def decode_entry(raw, leaf_index):
    """An entry's envelope bytes -> the event; a unit event or CheckpointIssued checked against §2.2 (signatures are
    not checked here)."""
    where = {'leafIndex': leaf_index}
    try:
        envelope = json.loads(raw.decode('utf-8'))
        payload = fv.b64decode_strict(envelope['payload'])
        ev = json.loads(payload.decode('utf-8'))
    except (ValueError, KeyError, TypeError, AttributeError):
        fv.refuse(fv.ENVELOPE_ERROR, 'leaf %d is not a DSSE envelope of a JSON event' % leaf_index, **where)
    if not isinstance(ev, dict) or not isinstance(ev.get('type'), str):
        fv.refuse(fv.SCHEMA_ERROR, 'leaf %d: the event has no type' % leaf_index, **where)
    # The mapping function reads unit events and CheckpointIssued only: those are checked against §2.2 (version 2
    # of CheckpointIssued included); the other types (CRA, SCITT, key announcements, ...) change nothing here.
    reason = fv.check_event(ev) if ev['type'] in fv.UNIT_TYPES or ev['type'] == 'CheckpointIssued' else None
    if reason is not None:
        fv.refuse(fv.SCHEMA_ERROR, 'leaf %d: %s' % (leaf_index, reason), **where)
    return ev


def commitments_of(events):
    """§15.3: [(leaf index of the record, its data, version)] of the committing CheckpointIssued records, in log
    order: each whose size exceeds every earlier one's, v2 from the first such of version 2 with mapCommitment 2."""
    out, largest, switched = [], -1, False
    for i, ev in enumerate(events):
        if ev['type'] != 'CheckpointIssued' or ev['data']['size'] <= largest:
            continue
        largest = ev['data']['size']
        switched = switched or (ev['schemaVersion'] == 2 and ev['data'].get('mapCommitment') == 2)
        out.append((i, ev['data'], 2 if switched else 1))
    return out


def rebuild(entries, ledger_key):
    """entries: envelope bytes in leaf order. Returns (commitments, states): the index log leaves as
    [(text, version, size, map root)] and, per committed size, the MapState snapshot needed to answer about it
    ({size: (leaves' root, {digest: (now, formerly)})})."""
    leaves = [fv.leaf_hash(raw) for raw in entries]
    events = [decode_entry(raw, i) for i, raw in enumerate(entries)]
    wanted = commitments_of(events)
    by_size = {}
    for i, data, version in wanted:
        n = data['size']
        if n > len(entries):
            fv.refuse(LOG_ROOT_MISMATCH, 'the CheckpointIssued at leaf %d names size %d, beyond the %d entries served' % (i, n, len(entries)), leafIndex=i)
        checkpoint = note_checkpoint(data, ledger_key, i)
        if checkpoint.root != merkle_root(leaves[:n]):
            fv.refuse(LOG_ROOT_MISMATCH, 'the entries served do not give the root of the checkpoint of size %d logged at leaf %d' % (n, i), leafIndex=i)
        by_size[n] = (checkpoint, version)
    state, roots, done = MapState(), {}, 0
    for n in sorted(by_size):
        for j in range(done, n):
            if events[j]['type'] in fv.UNIT_TYPES:
                state.apply(j, leaves[j], events[j])
        done = n
        checkpoint, version = by_size[n]
        roots[n] = (state.root(version), {d: state.carrying(d) for d in state.firmware})
    commitments = []
    for i, data, version in wanted:
        checkpoint, _v = by_size[data['size']]
        map_root = roots[data['size']][0]
        commitments.append((fh.commitment_leaf(checkpoint, map_root, version), version, data['size'], map_root))
    return commitments, roots


def note_checkpoint(data, ledger_key, leaf_index):
    """The checkpoint a CheckpointIssued record carries: its body parsed (origin the ledger's, size and root the
    record's). Its signature is left to the key chain (§5.4); the root is checked against the entries instead."""
    where = {'leafIndex': leaf_index}
    body, _sigs = fv.split_note(data['note'], where)
    lines = body[:-1].split('\n')
    if len(lines) < 3 or lines[0] != ledger_key.name or lines[1] != str(data['size']):
        fv.refuse(LOG_ROOT_MISMATCH, 'the CheckpointIssued at leaf %d carries a note of another log or size' % leaf_index, **where)
    root = fv.b64decode_strict(lines[2])
    if root is None or root.hex() != data['rootHash']:
        fv.refuse(LOG_ROOT_MISMATCH, 'the CheckpointIssued at leaf %d carries a note of another root' % leaf_index, **where)
    return fv.Checkpoint(lines[0], data['size'], root, data['note'])


class Ledger:
    def __init__(self, url, token):
        self.url, self.token = url.rstrip('/'), token

    def get(self, path):
        req = urllib.request.Request(self.url + path, headers={'authorization': 'Bearer ' + self.token})
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                return r.read()
        except urllib.error.HTTPError as x:
            fv.refuse(fv.FORMAT_ERROR, 'GET %s answered %d: %s' % (path, x.code, x.read()[:300].decode('utf-8', 'replace')))
        except (urllib.error.URLError, OSError) as x:
            fv.refuse(fv.FORMAT_ERROR, 'GET %s failed: %s' % (path, x))

    def entries(self):
        """Every entry of the log, in leaf order, a page at a time (the cursor is the ledger's `next`)."""
        out, after = [], None
        while True:
            page = json.loads(self.get('/v1/log/entries?limit=%d%s' % (PAGE, '' if after is None else '&after=' + after)))
            for text in page['entries']:
                raw = fv.b64decode_strict(text)
                if raw is None:
                    fv.refuse(fv.FORMAT_ERROR, 'an entry of the page after %s is not base64' % after)
                out.append(raw)
            if not page['entries'] or page['next'] is None:
                return out
            after = page['next']


def audit(ledger, ledger_key, map_key):
    """The rebuild, tied to the index checkpoint and the ledger checkpoint; the report, or a coded refusal."""
    # The index checkpoint first, then the ledger's: every ledger checkpoint it commits is then within the latter.
    index = fv.verify_checkpoint(ledger.get('/v1/unit-map/checkpoint').decode('utf-8'), map_key, {'field': 'unit-map checkpoint'})
    checkpoint = fv.verify_checkpoint(ledger.get('/v1/checkpoint').decode('utf-8'), ledger_key, {'field': 'checkpoint'})
    if map_key.name != checkpoint.origin + '/unit-map':
        fv.refuse(fv.LEDGER_KEY_ERROR, 'the index log key is for %r, not %r' % (map_key.name, checkpoint.origin + '/unit-map'))
    entries = ledger.entries()
    if len(entries) < checkpoint.size or merkle_root([fv.leaf_hash(e) for e in entries[:checkpoint.size]]) != checkpoint.root:
        fv.refuse(LOG_ROOT_MISMATCH, 'the %d entries served do not give the root of the ledger checkpoint of size %d' % (len(entries), checkpoint.size))
    commitments, roots = rebuild(entries, ledger_key)
    ours = [fv.sha256(b'\x00' + text) for text, _v, _n, _r in commitments]
    if len(ours) < index.size or merkle_root(ours[:index.size]) != index.root:
        served = json.loads(ledger.get('/v1/unit-map/leaves?limit=%d' % min(PAGE, max(index.size, 1))))['leaves']
        for k in range(index.size):
            theirs = served[k] if k < len(served) else None
            mine = commitments[k][0].decode('utf-8') if k < len(commitments) else None
            if theirs != mine:
                code = MAP_COMMITMENT_FORMAT if (theirs or '').split('\n')[1:] == (mine or '').split('\n')[1:] else MAP_ROOT_MISMATCH
                fv.refuse(code, 'index log leaf %d is not what the log gives: served %r, rebuilt %r' % (k, theirs, mine), indexLeaf=k)
        fv.refuse(MAP_ROOT_MISMATCH, 'the index checkpoint of size %d is not the root of the %d commitments the log gives' % (index.size, len(ours)))
    switch = next((k for k, c in enumerate(commitments) if c[1] == 2), None)
    return {'ok': True, 'checkpoint': {'origin': checkpoint.origin, 'size': checkpoint.size},
            'entries': len(entries), 'indexSize': index.size, 'commitments': len(commitments),
            'switchToV2': switch,
            'mapRoots': [{'size': n, 'version': v, 'mapRoot': r.hex()} for _t, v, n, r in commitments[:index.size]],
            'statement': 'the %d map roots the index log commits (its checkpoint of size %d) are the ones the log gives' % (index.size, index.size)}, roots


def main(argv):
    args, opts = argv[1:], {}
    i = 0
    while i < len(args):
        if args[i] in ('--ledger-key', '--map-key', '--url', '--token-file') and i + 1 < len(args):
            opts[args[i]] = args[i + 1]
            i += 2
        else:
            opts.setdefault('extra', []).append(args[i])
            i += 1
    try:
        missing = [o for o in ('--ledger-key', '--map-key', '--url', '--token-file') if o not in opts]
        if missing or opts.get('extra'):
            fv.refuse(fv.FORMAT_ERROR, 'usage: flashtrail_map.py --ledger-key KEY --map-key KEY --url URL --token-file FILE')
        try:
            with open(opts['--token-file']) as f:
                token = f.read().strip()
        except OSError as x:
            fv.refuse(fv.FORMAT_ERROR, 'cannot read %s: %s' % (opts['--token-file'], x.strerror or x))
        report, _roots = audit(Ledger(opts['--url'], token), fv.parse_ledger_key(opts['--ledger-key']), fv.parse_ledger_key(opts['--map-key']))
        fv.emit(report)
        return 0
    except fv.Refused as r:
        out = {'ok': False, 'code': r.code, 'message': r.message}
        if r.where:
            out['where'] = r.where
        fv.emit(out)
        return 1
    except Exception as x:  # a bug here must still end in one coded line
        fv.emit({'ok': False, 'code': fv.FORMAT_ERROR, 'message': 'internal error of the rebuild: %s: %s' % (type(x).__name__, x)})
        return 1


if __name__ == '__main__':
    sys.exit(main(sys.argv))
