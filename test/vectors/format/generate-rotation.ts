/**
 * Rotated-ledger vectors (docs/format.md §5.4, §5.5.1, §14), produced the way a user gets them: a real ledger
 * (real SQLite files, the real HTTP server on loopback) with keys from fixed seeds, stopped and restarted around
 * each key rotation by `flashtrail keys rotate`'s own code (src/server/ledger-key-rotation.ts), given a seeded next
 * key instead of a random one so that the chain's keys are the same on every run:
 *
 *   1. genesis keys; line setup; SN-0001 flashed          → renewal evidence (SN-0001's document at that size, and
 *      before.export.ndjson, the batch's export)
 *   2. Ed25519 key rotated; SN-0002 flashed              → ed25519.provenance.json (v3), ed25519.export.ndjson (v4)
 *      and renewal.json, renewal.export.json (`flashtrail renew` of step 1's document and export)
 *   3. ML-DSA-44 key rotated; SN-0003 flashed            → both.provenance.json, both.export.ndjson, renewal.both.json,
 *      renewal.export.both.json
 *
 * then tamper cases derived from those files, each breaking one rule, and rotation/manifest.json with the code a
 * verifier must report. Vectors are verified with the genesis keys pinned unless their entry's `pin` says otherwise.
 *
 *   npm run build && npx tsx test/vectors/format/generate-rotation.ts            (a new ledger: new genuine files)
 *   npx tsx test/vectors/format/generate-rotation.ts --derive                   (the tamper cases again, from the files here)
 *
 * The ledger's ML-DSA-44 signatures are hedged and its checkpoints timed, so the genuine files differ per run; the
 * tamper derivation is deterministic from them (Ed25519 is).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { configFromEnv, startLedgerServer, type RunningLedger } from '../../../src/server/main.ts';
import { rotateLedgerKey, rotateMlDsaKey } from '../../../src/server/ledger-key-rotation.ts';
import { writeSecretKeyFile } from '../../../src/files/key-file.ts';
import { writeMlDsaKeyFile } from '../../../src/files/ml-dsa-key-file.ts';
import { keyIdOf, publicKeyFromSecret, type Signer } from '../../../src/crypto/ed25519.ts';
import { mlDsaSignerFromSeed, type MlDsaSigner } from '../../../src/crypto/ml-dsa.ts';
import { EventSigner } from '../../../src/event/signer.ts';
import { LedgerClient } from '../../../src/client/ledger-client.ts';
import { lineSetupEvents } from '../../../src/sim/line-setup.ts';
import { SimulatedStation, simulatedRelease } from '../../../src/sim/simulated-station.ts';
import { formatVerifierKey, parseNote, signNote } from '../../../src/tlog/note.ts';
import { formatMlDsaVerifierKey } from '../../../src/tlog/ml-dsa-note.ts';
import { addToken } from '../../../src/api/tokens.ts';
import { fromBase64, fromUtf8, toBase64, toHex, utf8 } from '../../../src/crypto/encoding.ts';
import { signEnvelope, type DsseEnvelope } from '../../../src/crypto/dsse.ts';
import { canonicalBytes, canonicalize } from '../../../src/crypto/jcs.ts';

export const ROTATION_DIR = join(fileURLToPath(import.meta.url), '..', 'rotation');
const ROOT = join(fileURLToPath(import.meta.url), '..', '..', '..', '..');
const ORIGIN = 'rotation.vectors.flashtrail.example/log';
const run = promisify(execFile);

const seed = (label: string) => new Uint8Array(createHash('sha256').update(`flashtrail rotation vectors: ${label}`).digest());
function seeded(label: string): Signer {
  const secretKey = seed(label);
  const publicKey = publicKeyFromSecret(secretKey);
  return { keyId: keyIdOf(publicKey), publicKey, secretKey };
}
const seededMlDsa = (label: string): MlDsaSigner => mlDsaSignerFromSeed(seed(label));

const ledger1 = seeded('ledger 1');
const ledger2 = seeded('ledger 2');
const mlDsa1 = seededMlDsa('ledger ml-dsa-44 1');
const mlDsa2 = seededMlDsa('ledger ml-dsa-44 2');
const stranger = seeded('someone else');

interface Tokens { admin: string; station: string; auditor: string }
const release = simulatedRelease('R-1', 'SENSOR-S3', '2.4.1');
const stationKey = seeded('station ST-01');

async function withLedger<T>(dataDir: string, f: (ledger: RunningLedger) => Promise<T>): Promise<T> {
  const config = configFromEnv({ FLASHTRAIL_LOG_ORIGIN: ORIGIN }, { dataDir, port: 0, logLevel: 'warn' });
  const ledger = await startLedgerServer(config, pino({ level: 'warn' }));
  try {
    return await f(ledger);
  } finally {
    await ledger.close();
  }
}
const flash = (ledger: RunningLedger, tokens: Tokens, serial: string) =>
  new SimulatedStation(new LedgerClient(ledger.url, tokens.station), new EventSigner(stationKey, 'ST-01'), { stationId: 'ST-01', operator: 'op-1', batchId: 'B-1', hardwareRevision: 'rev-C' }, release).flash(serial, 'pass');
const provenance = (ledger: RunningLedger, tokens: Tokens, serial: string) => new LedgerClient(ledger.url, tokens.auditor).get<unknown>(`/v1/units/${serial}/provenance`);
async function exportBatch(ledger: RunningLedger, tokens: Tokens): Promise<string> {
  const response = await fetch(`${ledger.url}/v1/exports`, { method: 'POST', headers: { authorization: `Bearer ${tokens.auditor}`, 'content-type': 'application/json' }, body: JSON.stringify({ batchId: 'B-1' }) });
  if (!response.ok) throw new Error(`export failed: ${response.status} ${await response.text()}`);
  return response.text();
}
const json = (v: unknown) => JSON.stringify(v, null, 2) + '\n';

async function genuine(): Promise<Record<string, string>> {
  const dataDir = mkdtempSync(join(tmpdir(), 'flashtrail-rotation-vectors-'));
  try {
    writeSecretKeyFile(join(dataDir, 'ledger.key'), ledger1);
    writeSecretKeyFile(join(dataDir, 'admin.key'), seeded('admin'));
    writeSecretKeyFile(join(dataDir, 'unit-map.key'), seeded('unit-map'));
    writeMlDsaKeyFile(join(dataDir, 'ledger-ml-dsa.key'), mlDsa1);
    const config = configFromEnv({ FLASHTRAIL_LOG_ORIGIN: ORIGIN }, { dataDir, port: 0, logLevel: 'warn' });
    const files: Record<string, string> = {};
    let mapVerifierKey = '';
    let tokens: Tokens | undefined;
    await withLedger(dataDir, async (ledger) => {
      tokens = {
        admin: readFileSync(join(dataDir, 'admin.token'), 'utf8').trim(),
        station: addToken(config.tokensFile, { name: 'st-01', role: 'station', stationId: 'ST-01' }),
        auditor: addToken(config.tokensFile, { name: 'auditor', role: 'auditor' }),
      };
      await new LedgerClient(ledger.url, tokens.admin).appendAdmin(lineSetupEvents(new EventSigner(seeded('admin'), 'admin'), { stations: [{ stationId: 'ST-01', key: stationKey }], release, batch: { batchId: 'B-1', line: 'L1', plannedQuantity: 10 } }));
      // The token file is re-read when it changes; give the server a moment to see the new tokens.
      await new Promise((r) => setTimeout(r, 1500));
      mapVerifierKey = ledger.unitMap?.verifierKey ?? '';
      await flash(ledger, tokens, 'SN-0001');
      files['before.provenance.json'] = json(await provenance(ledger, tokens, 'SN-0001'));
      files['before.export.ndjson'] = await exportBatch(ledger, tokens);
    });
    const t = tokens as Tokens;
    // `flashtrail renew` of the document from before the rotations, against the running ledger.
    const renew = async (ledger: RunningLedger, out: string, of = 'before.provenance.json'): Promise<string> => {
      const evidence = join(dataDir, of);
      writeFileSync(evidence, files[of] as string);
      const tokenFile = join(dataDir, 'auditor.token');
      writeFileSync(tokenFile, `${t.auditor}\n`, { mode: 0o600 });
      await run(process.execPath, [join(ROOT, 'bin', 'flashtrail.js'), 'renew', evidence, '--out', join(dataDir, out), '--url', ledger.url, '--token-file', tokenFile]);
      return readFileSync(join(dataDir, out), 'utf8');
    };
    rotateLedgerKey(dataDir, ledger2);
    await withLedger(dataDir, async (ledger) => {
      await flash(ledger, t, 'SN-0002');
      files['ed25519.provenance.json'] = json(await provenance(ledger, t, 'SN-0002'));
      files['ed25519.export.ndjson'] = await exportBatch(ledger, t);
      files['renewal.json'] = await renew(ledger, 'renewal.json');
      files['renewal.export.json'] = await renew(ledger, 'renewal.export.json', 'before.export.ndjson');
    });
    rotateMlDsaKey(dataDir, mlDsa2);
    await withLedger(dataDir, async (ledger) => {
      await flash(ledger, t, 'SN-0003');
      files['both.provenance.json'] = json(await provenance(ledger, t, 'SN-0003'));
      files['both.export.ndjson'] = await exportBatch(ledger, t);
      files['renewal.both.json'] = await renew(ledger, 'renewal.both.json');
      files['renewal.export.both.json'] = await renew(ledger, 'renewal.export.both.json', 'before.export.ndjson');
    });
    files['map-key'] = mapVerifierKey;
    return files;
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- tamper cases

interface Vector {
  readonly file: string;
  readonly kind: 'export' | 'provenance' | 'renewal' | 'export-renewal';
  /** kind `export-renewal` (§14.1): the export the bundle (`file`) is verified with. */
  readonly export?: string;
  /** "ok", or the error code a verifier must report. */
  readonly expect: string;
  readonly rule: string;
  readonly description: string;
  /** What a verifier must implement to reach this verdict beyond Ed25519 and SHA-256. */
  readonly needs?: 'ml-dsa-44';
  /** Pin the chains' newest keys instead of the genesis keys (`newest`), or only the newest ML-DSA-44 key. */
  readonly pin?: 'newest' | 'newest-ml-dsa';
}
type Entry = { role: string; leafIndex: number; envelope: DsseEnvelope; proof: string };
type Doc = { checkpoint: string; entries: Entry[] } & Record<string, unknown>;
const payloadOf = (e: DsseEnvelope) => JSON.parse(fromUtf8(fromBase64(e.payload))) as { type: string; schemaVersion: number; data: Record<string, unknown> } & Record<string, unknown>;
const rotations = (d: Doc) => d.entries.filter((e) => e.role === 'trust' && payloadOf(e.envelope).type === 'LedgerKeyRotated');
const ed25519Link = (d: Doc) => rotations(d).find((e) => payloadOf(e.envelope).schemaVersion === 1)!;
const mlDsaLink = (d: Doc) => rotations(d).find((e) => payloadOf(e.envelope).schemaVersion === 2)!;
/** The entry's payload edited and re-signed with `key` (the holder of a ledger key could). */
function resigned(e: Entry, key: Signer, edit: (p: ReturnType<typeof payloadOf>) => void = () => undefined): Entry {
  const p = payloadOf(e.envelope);
  edit(p);
  return { ...e, envelope: signEnvelope(e.envelope.payloadType, canonicalBytes(p), key) };
}
const flipLastSigChar = (sig: string) => {
  const bytes = fromBase64(sig);
  bytes[10] = (bytes[10] as number) ^ 1;
  return toBase64(bytes);
};

function derive(files: Record<string, string>): Vector[] {
  const out: Vector[] = [];
  const put = (file: string, text: string, v: Omit<Vector, 'file'>) => {
    files[file] = text;
    out.push({ file: `rotation/${file}`, ...v });
  };
  const doc = (name: string) => JSON.parse(files[name] as string) as Doc;
  const edit = (name: string, f: (d: Doc) => void) => {
    const d = doc(name);
    f(d);
    return json(d);
  };
  const replaceEntry = (d: Doc, old: Entry, next: Entry) => void (d.entries[d.entries.indexOf(old)] = next);

  out.push({ file: 'rotation/before.provenance.json', kind: 'provenance', expect: 'ok', rule: '§5.4', description: 'a v3 document from before any rotation (the renewal evidence): genesis keys' });
  out.push({ file: 'rotation/ed25519.provenance.json', kind: 'provenance', expect: 'ok', rule: '§5.4', description: 'a genuine v3 document after one Ed25519 rotation: verified with the genesis key pinned, following the link' });
  out.push({ file: 'rotation/ed25519.export.ndjson', kind: 'export', expect: 'ok', rule: '§5.4', description: 'a genuine v4 export after one Ed25519 rotation' });
  out.push({ file: 'rotation/both.provenance.json', kind: 'provenance', expect: 'ok', rule: '§5.5.1', description: 'a genuine v3 document after an Ed25519 and then an ML-DSA-44 rotation', needs: 'ml-dsa-44' });
  out.push({ file: 'rotation/both.export.ndjson', kind: 'export', expect: 'ok', rule: '§5.5.1', description: 'a genuine v4 export after an Ed25519 and then an ML-DSA-44 rotation', needs: 'ml-dsa-44' });
  out.push({ file: 'rotation/both.provenance.json', kind: 'provenance', expect: 'ok', rule: '§5.4', description: 'the same document with the newest keys pinned: the chain need not be followed', pin: 'newest', needs: 'ml-dsa-44' });
  out.push({ file: 'rotation/renewal.json', kind: 'renewal', expect: 'ok', rule: '§14', description: '`flashtrail renew` of the document from before the rotations, by the ledger after the Ed25519 rotation (flashtrail.renewal.v2, one rotation)', needs: 'ml-dsa-44' });
  // With the genesis keys pinned, the verifier follows both chains the bundle's rotations hold (§14, §5.5.1);
  // pinned to the newest ML-DSA-44 key it needs no ML-DSA-44 link at all.
  out.push({ file: 'rotation/renewal.both.json', kind: 'renewal', expect: 'ok', rule: '§14', description: '`flashtrail renew` of the same document by the ledger after both rotations (two rotations), verified with the genesis keys pinned: both chains followed', needs: 'ml-dsa-44' });
  out.push({ file: 'rotation/renewal.both.json', kind: 'renewal', expect: 'ok', rule: '§14', description: 'the same bundle with the genesis Ed25519 key and the newest ML-DSA-44 key pinned', pin: 'newest-ml-dsa', needs: 'ml-dsa-44' });

  put('provenance.ed25519-link-forged.json', edit('ed25519.provenance.json', (d) => {
    const link = ed25519Link(d);
    link.envelope = { ...link.envelope, signatures: [{ ...link.envelope.signatures[0]!, sig: flipLastSigChar(link.envelope.signatures[0]!.sig) }] };
  }), { kind: 'provenance', expect: 'LEDGER_KEY_ERROR', rule: '§5.4', description: "a bit of the Ed25519 rotation record's signature (by the key it replaces) flipped" });
  put('provenance.ed25519-link-by-stranger.json', edit('ed25519.provenance.json', (d) => replaceEntry(d, ed25519Link(d), resigned(ed25519Link(d), stranger))), { kind: 'provenance', expect: 'LEDGER_KEY_ERROR', rule: '§5.4', description: 'the Ed25519 rotation record signed by a key that is not the one it replaces' });
  put('provenance.ed25519-link-omitted.json', edit('ed25519.provenance.json', (d) => void d.entries.splice(d.entries.indexOf(ed25519Link(d)), 1)), { kind: 'provenance', expect: 'CHECKPOINT_SIGNATURE_ERROR', rule: '§5.4', description: 'the Ed25519 rotation record left out: the checkpoint is signed by a key the pinned key does not lead to' });
  put('provenance.ed25519-link-verifier-key.json', edit('ed25519.provenance.json', (d) => replaceEntry(d, ed25519Link(d), resigned(ed25519Link(d), ledger1, (p) => void (p.data['verifierKey'] = formatVerifierKey(ORIGIN, stranger.publicKey))))), { kind: 'provenance', expect: 'LEDGER_KEY_ERROR', rule: '§5.4', description: "the rotation's verifierKey names another key than its publicKey, re-signed by the key it replaces" });
  put('provenance.ed25519-link-key-id.json', edit('ed25519.provenance.json', (d) => replaceEntry(d, ed25519Link(d), resigned(ed25519Link(d), ledger1, (p) => void (p.data['keyId'] = toHex(new Uint8Array(32).fill(0xab)))))), { kind: 'provenance', expect: 'FORMAT_ERROR', rule: '§5.4', description: "the rotation's keyId is not the SHA-256 of its publicKey, re-signed by the key it replaces" });
  put('provenance.checkpoint-by-old-key.json', edit('ed25519.provenance.json', (d) => {
    // The replaced key signs the tree after its rotation's leaf (the ML-DSA-44 line kept: it signs the same tree).
    const pqLines = d.checkpoint.split('\n').filter((l) => l.startsWith('\u2014 ') && l.length > 200);
    const next = signNote(parseNote(d.checkpoint).text, ORIGIN, ledger1.secretKey, ledger1.publicKey) + pqLines.map((l) => `${l}\n`).join('');
    d.entries = d.entries.map((e) => ({ ...e, proof: e.proof.replace(d.checkpoint, next) }));
    d.checkpoint = next;
  }), { kind: 'provenance', expect: 'CHECKPOINT_SIGNATURE_ERROR', rule: '§5.4', description: "the checkpoint (after the rotation's leaf) signed by the replaced key instead of its successor" });
  put('provenance.ml-dsa-link-by-old-ed25519-key.json', edit('both.provenance.json', (d) => replaceEntry(d, mlDsaLink(d), resigned(mlDsaLink(d), ledger1))), { kind: 'provenance', expect: 'INCLUSION_PROOF_ERROR', rule: '§8.1 step 4', description: "the ML-DSA-44 rotation record's envelope re-signed by the Ed25519 key replaced before its leaf: a key of the chain, so not KEY_UNKNOWN at step 4, and the log never held these bytes; step 5's key in force is reachable only by a ledger that logged such a record" });
  put('provenance.links-out-of-order.json', edit('both.provenance.json', (d) => {
    const a = d.entries.indexOf(ed25519Link(d));
    const b = d.entries.indexOf(mlDsaLink(d));
    [d.entries[a], d.entries[b]] = [d.entries[b]!, d.entries[a]!];
  }), { kind: 'provenance', expect: 'FORMAT_ERROR', rule: '§6.2', description: 'the two rotation records swapped: trust entries out of leaf order' });
  put('provenance.ml-dsa-link-forged.json', edit('both.provenance.json', (d) => replaceEntry(d, mlDsaLink(d), resigned(mlDsaLink(d), ledger2, (p) => void (p.data['previousKeySignature'] = flipLastSigChar(p.data['previousKeySignature'] as string))))), { kind: 'provenance', expect: 'LEDGER_KEY_ERROR', rule: '§5.5.1', description: "a bit of the ML-DSA-44 link's previousKeySignature flipped (envelope re-signed by the Ed25519 key in force)", needs: 'ml-dsa-44' });
  put('provenance.ml-dsa-link-omitted.json', edit('both.provenance.json', (d) => void d.entries.splice(d.entries.indexOf(mlDsaLink(d)), 1)), { kind: 'provenance', expect: 'CHECKPOINT_PQ_SIGNATURE_ERROR', rule: '§5.5.1', description: 'the ML-DSA-44 rotation record left out: the checkpoint has no ML-DSA-44 line by a key the pinned one leads to' });
  put('provenance.ml-dsa-link-by-new-key.json', edit('both.provenance.json', (d) => replaceEntry(d, mlDsaLink(d), resigned(mlDsaLink(d), ledger2, (p) => void (p.data['verifierKey'] = formatMlDsaVerifierKey(ORIGIN, mlDsa1.publicKey))))), { kind: 'provenance', expect: 'LEDGER_KEY_ERROR', rule: '§5.5.1', description: "the ML-DSA-44 link's verifierKey is not its new key (the replaced one), envelope re-signed" });

  // Exports: the same faults in the records before the units.
  const lines = (name: string) => (files[name] as string).split('\n').slice(0, -1);
  const isLink = (l: string, version: number) => {
    const r = JSON.parse(l) as { record: string; envelope?: DsseEnvelope };
    return r.record === 'trust' && r.envelope !== undefined && payloadOf(r.envelope).type === 'LedgerKeyRotated' && payloadOf(r.envelope).schemaVersion === version;
  };
  const g = lines('ed25519.export.ndjson');
  put('export.ed25519-link-forged.ndjson', g.map((l) => {
    if (!isLink(l, 1)) return l;
    const r = JSON.parse(l) as { envelope: DsseEnvelope };
    r.envelope = { ...r.envelope, signatures: [{ ...r.envelope.signatures[0]!, sig: flipLastSigChar(r.envelope.signatures[0]!.sig) }] };
    return canonicalize(r);
  }).map((l) => `${l}\n`).join(''), { kind: 'export', expect: 'LEDGER_KEY_ERROR', rule: '§5.4', description: "a bit of the Ed25519 rotation record's signature flipped" });
  put('export.ed25519-link-omitted.ndjson', g.filter((l) => !isLink(l, 1)).map((l) => `${l}\n`).join(''), { kind: 'export', expect: 'CHECKPOINT_SIGNATURE_ERROR', rule: '§5.4', description: 'the Ed25519 rotation record left out (statement kept): line 2 is signed by a key the pinned key does not lead to' });
  const b = lines('both.export.ndjson');
  put('export.ml-dsa-link-omitted.ndjson', b.filter((l) => !isLink(l, 2)).map((l) => `${l}\n`).join(''), { kind: 'export', expect: 'CHECKPOINT_PQ_SIGNATURE_ERROR', rule: '§5.5.1', description: 'the ML-DSA-44 rotation record left out: no ML-DSA-44 line by a key the pinned one leads to' });

  // Renewal bundles (§14).
  const renewal = () => JSON.parse(files['renewal.json'] as string) as { format: string; rotations: { leafIndex: number; envelope: DsseEnvelope; proof: string }[]; consistency: string[] } & Record<string, unknown>;
  const editRenewal = (f: (r: ReturnType<typeof renewal>) => void) => {
    const r = renewal();
    f(r);
    return json(r);
  };
  put('renewal.rotation-omitted.json', editRenewal((r) => void (r.rotations = [])), { kind: 'renewal', expect: 'CHECKPOINT_SIGNATURE_ERROR', rule: '§14', description: 'the Ed25519 rotation left out (rotations []): the renewal checkpoint is signed by a key the pinned key does not reach' });
  put('renewal.rotation-forged.json', editRenewal((r) => {
    const link = r.rotations[0]!;
    link.envelope = { ...link.envelope, signatures: [{ ...link.envelope.signatures[0]!, sig: flipLastSigChar(link.envelope.signatures[0]!.sig) }] };
  }), { kind: 'renewal', expect: 'LEDGER_KEY_ERROR', rule: '§14', description: "a bit of the Ed25519 rotation's signature flipped" });
  const both = JSON.parse(files['renewal.both.json'] as string) as { rotations: unknown[] };
  both.rotations.reverse();
  put('renewal.rotations-swapped.json', json(both), { kind: 'renewal', expect: 'FORMAT_ERROR', rule: '§14', description: 'the two rotations of renewal.both.json not in ascending leaf order', pin: 'newest-ml-dsa' });
  const editBoth = (f: (r: { rotations: Entry[] } & Record<string, unknown>) => void) => {
    const r = JSON.parse(files['renewal.both.json'] as string) as { rotations: Entry[] } & Record<string, unknown>;
    f(r);
    return json(r);
  };
  const mlDsaRotation = (r: { rotations: Entry[] }) => r.rotations.find((e) => payloadOf(e.envelope).schemaVersion === 2)!;
  put('renewal.ml-dsa-link-forged.json', editBoth((r) => {
    const i = r.rotations.indexOf(mlDsaRotation(r));
    r.rotations[i] = resigned(mlDsaRotation(r), ledger2, (p) => void (p.data['previousKeySignature'] = flipLastSigChar(p.data['previousKeySignature'] as string)));
  }), { kind: 'renewal', expect: 'LEDGER_KEY_ERROR', rule: '§14, §5.5.1', description: "renewal.both.json with a bit of the ML-DSA-44 link's previousKeySignature flipped (envelope re-signed by the Ed25519 key in force)", needs: 'ml-dsa-44' });
  put('renewal.ml-dsa-link-omitted.json', editBoth((r) => void r.rotations.splice(r.rotations.indexOf(mlDsaRotation(r)), 1)), { kind: 'renewal', expect: 'CHECKPOINT_PQ_SIGNATURE_ERROR', rule: '§14, §5.5.1', description: "renewal.both.json without its ML-DSA-44 link: the renewal checkpoint's ML-DSA-44 line is by a key the pinned one does not lead to", needs: 'ml-dsa-44' });
  put('renewal.consistency-forged.json', editRenewal((r) => void (r.consistency[0] = toBase64(new Uint8Array(32).fill(7)))), { kind: 'renewal', expect: 'CONSISTENCY_PROOF_ERROR', rule: '§14', description: 'the first hash of the consistency proof replaced' });
  put('renewal.consistency-truncated.json', editRenewal((r) => void r.consistency.pop()), { kind: 'renewal', expect: 'CONSISTENCY_PROOF_ERROR', rule: '§14', description: 'the consistency proof without its last hash' });
  put('renewal.v1-with-rotations.json', editRenewal((r) => void (r.format = 'flashtrail.renewal.v1')), { kind: 'renewal', expect: 'FORMAT_ERROR', rule: '§14', description: 'flashtrail.renewal.v1 has no rotations member' });
  put('renewal.unknown-member.json', editRenewal((r) => void (r['comment'] = 'hello')), { kind: 'renewal', expect: 'FORMAT_ERROR', rule: '§14', description: 'a member the format does not have' });
  put('renewal.evidence-event-changed.json', editRenewal((r) => {
    const e = (r['evidence'] as Doc).entries.find((x) => x.role === 'unit')!;
    e.envelope = { ...e.envelope, payload: toBase64(utf8(fromUtf8(fromBase64(e.envelope.payload)).replace('"SN-0001"', '"SN-0009"'))) };
  }), { kind: 'renewal', expect: 'SIGNATURE_ERROR', rule: '§14', description: "a unit event of the evidence changed: the evidence step fails with the evidence's own code" });
  put('renewal.checkpoint-by-stranger.json', editRenewal((r) => void (r['checkpoint'] = signNote(parseNote(r['checkpoint'] as string).text, ORIGIN, stranger.secretKey, stranger.publicKey))), { kind: 'renewal', expect: 'CHECKPOINT_SIGNATURE_ERROR', rule: '§14', description: 'the renewal checkpoint re-signed by another key under the ledger name (no ML-DSA-44 line)' });

  // Export renewal bundles (§14.1, flashtrail.renewal.v3): verified with the export they name.
  const exportRenewal = (name: string) => JSON.parse(files[name] as string) as { subject: { sha256: string; checkpoint: string }; checkpoint: string; consistency: string[]; rotations: Entry[] } & Record<string, unknown>;
  const editExportRenewal = (name: string, f: (r: ReturnType<typeof exportRenewal>) => void) => {
    const r = exportRenewal(name);
    f(r);
    return json(r);
  };
  const before = 'rotation/before.export.ndjson';
  out.push({ file: 'rotation/before.export.ndjson', kind: 'export', expect: 'ok', rule: '§5.4', description: 'a v4 export from before any rotation (the export renewal evidence): genesis keys' });
  out.push({ file: 'rotation/renewal.export.json', kind: 'export-renewal', export: before, expect: 'ok', rule: '§14.1', description: '`flashtrail renew` of the export from before the rotations, by the ledger after the Ed25519 rotation (flashtrail.renewal.v3, one rotation), verified with that export and the genesis keys', needs: 'ml-dsa-44' });
  out.push({ file: 'rotation/renewal.export.both.json', kind: 'export-renewal', export: before, expect: 'ok', rule: '§14.1', description: '`flashtrail renew` of the same export by the ledger after both rotations: both chains followed from the genesis keys', needs: 'ml-dsa-44' });
  out.push({ file: 'rotation/renewal.export.json', kind: 'export-renewal', export: 'rotation/ed25519.export.ndjson', expect: 'RENEWAL_SUBJECT_MISMATCH', rule: '§14.1', description: 'a genuine bundle verified with another genuine export (made after the Ed25519 rotation): the file is not the subject', needs: 'ml-dsa-44' });
  put('renewal.export.subject-checkpoint.json', editExportRenewal('renewal.export.json', (r) => void (r.subject.checkpoint = r.checkpoint)), { kind: 'export-renewal', export: before, expect: 'RENEWAL_SUBJECT_MISMATCH', rule: '§14.1', description: "subject.checkpoint replaced by the renewal checkpoint (the export's digest kept): not the export's line-2 note", needs: 'ml-dsa-44' });
  put('renewal.export.consistency-forged.json', editExportRenewal('renewal.export.json', (r) => void (r.consistency[0] = toBase64(new Uint8Array(32).fill(7)))), { kind: 'export-renewal', export: before, expect: 'CONSISTENCY_PROOF_ERROR', rule: '§14.1', description: 'the first hash of the consistency proof replaced', needs: 'ml-dsa-44' });
  put('renewal.export.ml-dsa-line-stripped.json', editExportRenewal('renewal.export.json', (r) => void (r.checkpoint = r.checkpoint.split('\n').filter((l) => !(l.startsWith('\u2014 ') && l.length > 200)).join('\n'))), { kind: 'export-renewal', export: before, expect: 'CHECKPOINT_PQ_SIGNATURE_ERROR', rule: '§14.1, §5.5', description: "the renewal checkpoint without its ML-DSA-44 line (Ed25519 line kept): the renewal's hybrid policy refuses it", needs: 'ml-dsa-44' });
  put('renewal.export.rotation-omitted.json', editExportRenewal('renewal.export.json', (r) => void (r.rotations = [])), { kind: 'export-renewal', export: before, expect: 'CHECKPOINT_SIGNATURE_ERROR', rule: '§14.1, §5.4', description: 'the Ed25519 rotation left out (rotations []): the renewal checkpoint is signed by a key the pinned key does not reach', needs: 'ml-dsa-44' });
  put('renewal.export.ml-dsa-link-omitted.json', editExportRenewal('renewal.export.both.json', (r) => void r.rotations.splice(r.rotations.indexOf(mlDsaRotation(r)), 1)), { kind: 'export-renewal', export: before, expect: 'CHECKPOINT_PQ_SIGNATURE_ERROR', rule: '§14.1, §5.5.1', description: "renewal.export.both.json without its ML-DSA-44 link: the renewal checkpoint's ML-DSA-44 line is by a key the pinned one does not lead to", needs: 'ml-dsa-44' });
  return out;
}

/** The genuine files as written by an earlier run: `--derive` re-derives the tamper cases without a new ledger. */
function genuineOnDisk(): Record<string, string> {
  const names = ['before.provenance.json', 'before.export.ndjson', 'ed25519.provenance.json', 'ed25519.export.ndjson', 'renewal.json', 'renewal.export.json', 'both.provenance.json', 'both.export.ndjson', 'renewal.both.json', 'renewal.export.both.json'];
  const files = Object.fromEntries(names.map((n) => [n, readFileSync(join(ROTATION_DIR, n), 'utf8')]));
  files['map-key'] = (JSON.parse(readFileSync(join(ROTATION_DIR, 'manifest.json'), 'utf8')) as { mapVerifierKey: string }).mapVerifierKey;
  return files;
}

async function main(): Promise<void> {
  const files = process.argv.includes('--derive') ? genuineOnDisk() : await genuine();
  const vectors = derive(files);
  const mapVerifierKey = files['map-key'] as string;
  delete files['map-key'];
  for (const [name, text] of Object.entries(files)) writeFileSync(join(ROTATION_DIR, name), text);
  const manifest = {
    description:
      'Rotated-ledger vectors (docs/format.md §5.4, §5.5.1, §14, §14.1), written by test/vectors/format/generate-rotation.ts: genuine files from a real ledger that rotated its Ed25519 and then its ML-DSA-44 key, and files that each break one rule, with the code a verifier must report. Verify with the genesis keys pinned (ledgerVerifierKey, ledgerMlDsaVerifierKey, mapVerifierKey; the hybrid policy) unless `pin` is "newest" (both chains\' last keys) or "newest-ml-dsa" (the genesis Ed25519 key and the last ML-DSA-44 key). `needs: ml-dsa-44`: the verdict rests on an ML-DSA-44 signature verifying. Kind `export-renewal`: `file` is a flashtrail.renewal.v3 bundle, verified with the export named by `export` (§14.1).',
    seeds: 'Ed25519 secret keys and ML-DSA-44 seeds (FIPS 204 ξ) are sha256("flashtrail rotation vectors: " + label) for labels "ledger 1" (genesis), "ledger 2", "ledger ml-dsa-44 1" (genesis), "ledger ml-dsa-44 2", "admin", "unit-map", "station ST-01", "someone else" (the stranger of the tamper cases)',
    ledgerVerifierKey: formatVerifierKey(ORIGIN, ledger1.publicKey),
    ledgerMlDsaVerifierKey: formatMlDsaVerifierKey(ORIGIN, mlDsa1.publicKey),
    newestLedgerVerifierKey: formatVerifierKey(ORIGIN, ledger2.publicKey),
    newestLedgerMlDsaVerifierKey: formatMlDsaVerifierKey(ORIGIN, mlDsa2.publicKey),
    mapVerifierKey,
    vectors,
  };
  writeFileSync(join(ROTATION_DIR, 'manifest.json'), JSON.stringify(manifest, null, 1) + '\n');
  console.log(`wrote ${vectors.length} rotation vectors to ${ROTATION_DIR}`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
