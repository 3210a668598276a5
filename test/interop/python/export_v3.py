"""flashtrail.export.v3's statement (docs/format.md §7.6.1), written from the specification alone: the envelope's
signatures (the Ed25519 one by the pinned ledger key first, then at most one ML-DSA-44 one, both over DSSE's PAE)
and the verifier page the predicate names by SHA-256.

Debian's python3-cryptography has no ML-DSA, so this verifier checks the ML-DSA-44 signature's place and form and,
given a program that verifies ML-DSA-44 (--ml-dsa-verifier NODE: a Node 26 binary, whose OpenSSL 3.5 implements
FIPS 204), has that program verify it; without one it says "not checked" and why, never "verified".
"""

import base64
import hashlib
import json
import re
import subprocess

ML_DSA_44_PUBLIC_KEY = 1312
ML_DSA_44_SIGNATURE = 2420
STATEMENT_PQ_SIGNATURE_ERROR = 'STATEMENT_PQ_SIGNATURE_ERROR'
VERIFIER_PAGE_MISMATCH = 'VERIFIER_PAGE_MISMATCH'
HEX64 = re.compile(r'^[0-9a-f]{64}$')

# RFC 9881 / FIPS 204: the DER SubjectPublicKeyInfo prefix of an ML-DSA-44 public key (OID 2.16.840.1.101.3.4.3.17).
SPKI_PREFIX = bytes.fromhex('30820532300b06096086480165030403110382052100')

NODE_VERIFY = r"""
const c = require('crypto');
const i = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const key = c.createPublicKey({ key: Buffer.from(i.spki, 'hex'), format: 'der', type: 'spki' });
process.stdout.write(JSON.stringify({ valid: c.verify(null, Buffer.from(i.message, 'hex'), key, Buffer.from(i.signature, 'hex')) }));
"""


def parse_ml_dsa_key(text, b64decode_strict, sha256, refuse, code):
    """<name>+<8 hex>+<base64(0x06 || 1312-byte key)>, the key id the first 4 bytes of SHA-256(name || LF || 0x06 || key)."""
    m = re.match(r'^([^+\s]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/=]+)$', text.strip())
    raw = b64decode_strict(m.group(3)) if m else None
    if raw is None or len(raw) != 1 + ML_DSA_44_PUBLIC_KEY or raw[0] != 0x06:
        refuse(code, 'the ML-DSA-44 verifier key is not <name>+<8 hex>+<base64(0x06 || 1312-byte key)>')
    name, key_id, public_key = m.group(1), m.group(2), raw[1:]
    if sha256(name.encode() + b'\n\x06' + public_key)[:4].hex() != key_id:
        refuse(code, 'the ML-DSA-44 verifier key id does not match its name and key')
    return public_key


def check_signatures(sigs, ledger_keyid, ed25519_ok, pq_key, ml_dsa_verifier, message, b64decode_strict, refuse, signature_code, where):
    """The statement's signatures as §7.6.1 says; what verified: ['Ed25519'] or ['Ed25519', 'ML-DSA-44'] and a note."""
    # The shape first (§7.6.1): [Ed25519] or [Ed25519, ML-DSA-44], told apart by their lengths, in that order.
    if len(sigs) not in (1, 2) or len(sigs[0]['sig']) != 88 or (len(sigs) == 2 and len(sigs[1]['sig']) != 3228) \
            or not all(HEX64.match(x['keyid']) for x in sigs):
        refuse('FORMAT_ERROR', 'a v3 statement has an Ed25519 signature, then at most one ML-DSA-44 signature', **where)
    if sigs[0]['keyid'] != ledger_keyid:
        refuse(signature_code, 'the first statement signature is not by the pinned ledger key', **where)
    sig = b64decode_strict(sigs[0]['sig'])
    if sig is None or len(sig) != 64 or not ed25519_ok(sig):
        refuse(signature_code, 'the statement Ed25519 signature does not verify under the pinned ledger key', **where)
    if len(sigs) == 2:
        pq = b64decode_strict(sigs[1]['sig'])
        if not HEX64.match(sigs[1]['keyid']) or pq is None or len(pq) != ML_DSA_44_SIGNATURE:
            refuse('FORMAT_ERROR', 'the second statement signature is not a keyid and a 2420-byte ML-DSA-44 signature', **where)
    if pq_key is None:
        return ['Ed25519'], 'no ML-DSA-44 key pinned: the second signature, if any, was not counted'
    if len(sigs) == 1:
        refuse(STATEMENT_PQ_SIGNATURE_ERROR, 'the statement carries no ML-DSA-44 signature, which the pinned ML-DSA-44 key requires', **where)
    if sigs[1]['keyid'] != hashlib.sha256(pq_key).hexdigest():
        refuse(STATEMENT_PQ_SIGNATURE_ERROR, 'the statement ML-DSA-44 signature is not by the pinned ML-DSA-44 key', **where)
    if ml_dsa_verifier is None:
        return ['Ed25519'], 'ML-DSA-44 signature not checked: no ML-DSA-44 implementation here (give --ml-dsa-verifier NODE26)'
    if not ml_dsa_verify(ml_dsa_verifier, pq_key, message, pq, refuse, where):
        refuse(STATEMENT_PQ_SIGNATURE_ERROR, 'the statement ML-DSA-44 signature does not verify under the pinned ML-DSA-44 key', **where)
    return ['Ed25519', 'ML-DSA-44'], 'ML-DSA-44 verified by %s' % ml_dsa_verifier


def ml_dsa_verify(ml_dsa_verifier, pq_key, message, signature, refuse, where):
    """Pure ML-DSA-44 with the empty context, by the external program (this verifier has no ML-DSA-44 of its own):
    whether `signature` over `message` verifies under the 1312-byte `pq_key`. A program that fails is LEDGER_KEY_ERROR."""
    proc = subprocess.run([ml_dsa_verifier, '-e', NODE_VERIFY], input=json.dumps({
        'spki': (SPKI_PREFIX + pq_key).hex(), 'message': message.hex(), 'signature': signature.hex()}).encode(),
        capture_output=True, timeout=60)
    if proc.returncode != 0:
        refuse('LEDGER_KEY_ERROR', 'the ML-DSA-44 verifier %s failed: %s' % (ml_dsa_verifier, proc.stderr.decode(errors='replace').strip()[-200:]), **where)
    return json.loads(proc.stdout)['valid'] is True


def check_page(recorded, page_bytes, refuse, where):
    """The page the predicate names; compared with the page file when one is given."""
    sha = recorded['sha256'] if recorded is not None else None
    if page_bytes is None:
        return {'sha256': sha, 'checked': False}
    actual = hashlib.sha256(page_bytes).hexdigest()
    if sha != actual:
        refuse(VERIFIER_PAGE_MISMATCH, 'the verifier page given hashes to %s, the statement names %s' % (actual, sha),
               **dict(where, field='statement.predicate.verifierPage'))
    return {'sha256': sha, 'checked': True}


def b64(data):
    return base64.b64encode(data).decode()


PROVENANCE_PREDICATE_TYPE = 'https://flashtrail.dev/attestation/provenance/v3'


def check_provenance_statement(doc, key, checkpoint, unit_events, h, where=None):
    """§6.7: the `statement` of a flashtrail.provenance.v3 document. `h` names the helpers of flashtrail_verify
    (refuse, b64decode_strict, utf8_strict, parse_json, jcs_bytes, ed25519_verify, pae, sha256_hex). What verified."""
    where = {'field': 'statement'}
    refuse = h.refuse
    env = doc['statement']
    if not isinstance(env, dict) or set(env) != {'payload', 'payloadType', 'signatures'} or not isinstance(env['payload'], str) \
            or env['payloadType'] != 'application/vnd.in-toto+json' or not isinstance(env['signatures'], list) \
            or not all(isinstance(s, dict) and set(s) == {'keyid', 'sig'} and isinstance(s['keyid'], str) and isinstance(s['sig'], str) for s in env['signatures']):
        refuse('FORMAT_ERROR', 'the statement is not a DSSE envelope of an in-toto statement', **where)
    payload = h.b64decode_strict(env['payload'])
    if payload is None:
        refuse('FORMAT_ERROR', 'the statement payload is not canonical base64', **where)
    message = h.pae('application/vnd.in-toto+json', payload)
    signed_with, note = check_signatures(env['signatures'], key.dsse_keyid, lambda sig: h.ed25519_verify(key.public_key, message, sig),
                                         h.options['pq_key'], h.options['ml_dsa_verifier'], message, h.b64decode_strict, refuse,
                                         'STATEMENT_SIGNATURE_ERROR', where)
    text = h.utf8_strict(payload)
    if text is None:
        refuse('FORMAT_ERROR', 'the statement payload is not strict UTF-8', **where)
    try:
        st, dup = h.parse_json(text)
    except ValueError as x:
        refuse('FORMAT_ERROR', 'the statement payload is not JSON (%s)' % x, **where)
    if dup or h.jcs_bytes(st) != payload:
        refuse('PAYLOAD_NOT_CANONICAL', 'the statement payload is not the RFC 8785 text of its value', **where)
    ok = isinstance(st, dict) and set(st) == {'_type', 'subject', 'predicateType', 'predicate'} \
        and st['_type'] == 'https://in-toto.io/Statement/v1' and st['predicateType'] == PROVENANCE_PREDICATE_TYPE \
        and isinstance(st['subject'], list) and len(st['subject']) == 1 and isinstance(st['subject'][0], dict) \
        and set(st['subject'][0]) == {'name', 'digest'} and isinstance(st['subject'][0]['digest'], dict) \
        and set(st['subject'][0]['digest']) == {'sha256'} and isinstance(st['subject'][0]['digest']['sha256'], str) \
        and isinstance(st['predicate'], dict) \
        and set(st['predicate']) == {'format', 'origin', 'serial', 'checkpoint', 'entries', 'unitEvents'} \
        and st['predicate']['format'] == 'flashtrail.provenance.v3' and isinstance(st['predicate']['checkpoint'], dict) \
        and set(st['predicate']['checkpoint']) == {'size', 'rootHash'}
    if not ok:
        refuse('FORMAT_ERROR', 'the statement is not a provenance v3 in-toto Statement', **where)
    subject, p = st['subject'][0], st['predicate']
    if subject['name'] != doc['serial'] or p['serial'] != doc['serial']:
        refuse('SUBJECT_MISMATCH', 'the statement is about another unit', **where)
    digest = h.sha256_hex(h.jcs_bytes({k: v for k, v in doc.items() if k != 'statement'}))
    if subject['digest']['sha256'] != digest or p['entries'] != len(doc['entries']) or p['unitEvents'] != unit_events:
        refuse('CONTENT_DIGEST_ERROR', 'the document is not the one the ledger signed (sha256 %s)' % digest, **where)
    if p['origin'] != checkpoint.origin or p['checkpoint'] != {'size': checkpoint.size, 'rootHash': checkpoint.root.hex()}:
        refuse('PREDICATE_MISMATCH', 'the statement names another origin or checkpoint', **where)
    return signed_with, note
