/**
 * The independent verifier: written in Python from docs/format.md and the vectors alone, by someone who did not
 * read our code (test/interop/python/flashtrail_verify.py, python3-cryptography). It must accept every genuine
 * vector and refuse every invalid one with the manifest's code, exactly as ours does
 * (test/export-format-vectors.unit.test.ts), and accept what a real ledger serves today.
 *
 * Its interface: `python3 flashtrail_verify.py --ledger-key KEY FILE` prints one JSON object on stdout,
 * {"ok": true, …} (exit 0) or {"ok": false, "code": "<CODE>", …} (exit 1).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import manifest from './vectors/format/manifest.json' with { type: 'json' };
import rotationManifest from './vectors/format/rotation/manifest.json' with { type: 'json' };
import { startTestLedger } from './helpers/ledger-fixture.ts';
import { SimulatedStation } from '../src/sim/simulated-station.ts';
import { LedgerClient } from '../src/client/ledger-client.ts';
import { EventSigner } from '../src/event/signer.ts';
import { fetchNode26 } from './helpers/node26.ts';
import { missingPython, PYTHON } from './helpers/python.ts';

const ROOT = join(fileURLToPath(import.meta.url), '..', '..');
const VERIFIER = join(ROOT, 'test', 'interop', 'python', 'flashtrail_verify.py');
const run = promisify(execFile);

const skipReason = missingPython('cryptography') ?? (existsSync(VERIFIER) ? null : `the independent verifier ${VERIFIER} is not written yet (see docs/format.md)`);
if (skipReason) console.warn(`independent verifier test skipped: ${skipReason}`);

async function python(file: string, key: string, extra: string[] = []): Promise<{ ok: boolean; code?: string; [member: string]: unknown }> {
  const r = await run(PYTHON, [VERIFIER, '--ledger-key', key, ...extra, file], { timeout: 60_000, maxBuffer: 1 << 24 }).catch((e: { code: number; stdout: string; stderr: string }) => e);
  const out = (r as { stdout: string }).stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(out) as { ok: boolean; code?: string };
  } catch {
    throw new Error(`the independent verifier printed no JSON for ${file}: ${out}\n${(r as { stderr?: string }).stderr ?? ''}`);
  }
}

const work = mkdtempSync(join(tmpdir(), 'flashtrail-independent-'));
const FORMAT_DIR = join(ROOT, 'test', 'vectors', 'format');

/** The pins of a vector of the main manifest: the index log key for provenance documents and for the exports whose
 * vectors ask for it, the ML-DSA-44 key for those with `signatures`, the page for those that name one (§11). */
function manifestPins(v: (typeof manifest.vectors)[number]): string[] {
  const pinMap = v.kind === 'provenance' || ('mapKey' in v && v.mapKey === true);
  return [...(pinMap ? ['--map-key', manifest.mapVerifierKey] : []), ...('signatures' in v ? ['--ledger-pq-key', manifest.ledgerMlDsaVerifierKey] : []), ...('page' in v && typeof v.page === 'string' ? ['--page', join(FORMAT_DIR, v.page)] : [])];
}

/** The Python verifier on a rotation vector, with the Ed25519 key its pin says: its file, or for an export renewal
 * (§14.1) the export it names as FILE and the bundle as --renewal. */
function rotationPython(v: { file: string; kind: string; pin?: string; export?: string }, extra: string[]): ReturnType<typeof python> {
  if (v.kind === 'export-renewal') return python(join(FORMAT_DIR, v.export as string), pinnedKeys(v).ed25519, ['--renewal', join(FORMAT_DIR, v.file), ...extra]);
  return python(join(FORMAT_DIR, v.file), pinnedKeys(v).ed25519, extra);
}

/** The keys a rotation vector is verified with (its manifest's `pin`): the genesis keys unless it says otherwise. */
function pinnedKeys(v: { pin?: string }): { ed25519: string; mlDsa: string } {
  return {
    ed25519: v.pin === 'newest' ? rotationManifest.newestLedgerVerifierKey : rotationManifest.ledgerVerifierKey,
    mlDsa: v.pin === 'newest' || v.pin === 'newest-ml-dsa' ? rotationManifest.newestLedgerMlDsaVerifierKey : rotationManifest.ledgerMlDsaVerifierKey,
  };
}
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe.skipIf(skipReason !== null)('an independent verifier written from docs/format.md', () => {
  it("passes its own tests (Wycheproof, RFC 8785, §2.5 data, key lives, a real ledger's recipe line): they catch a format change it does not know", async () => {
    // Its suite starts a real ledger through node and the build when they are there, and says when it skips that.
    const r = await run(PYTHON, [join(ROOT, 'test', 'interop', 'python', 'test_flashtrail_verify.py')], { cwd: ROOT, timeout: 600_000, maxBuffer: 1 << 24 }).catch((e: { code: number; stdout: string; stderr: string }) => e);
    const report = `${(r as { stdout: string }).stdout}\n${(r as { stderr: string }).stderr}`;
    expect(report.trim().split('\n').pop(), report.slice(-4000)).toMatch(/^OK/);
  }, 600_000);

  it('agrees with the manifest on every vector', async () => {
    const disagreements: string[] = [];
    // This verifier has no ML-DSA-44 of its own (Debian's python3-cryptography lacks it): the vectors whose verdict
    // rests on ML-DSA-44 are checked below, with Node 26 as its ML-DSA-44 implementation.
    for (const v of manifest.vectors.filter((x) => !('needs' in x))) {
      const got = await python(join(FORMAT_DIR, v.file), manifest.ledgerVerifierKey, manifestPins(v));
      const verdict = got.ok ? 'ok' : String(got.code);
      if (verdict !== v.expect) disagreements.push(`${v.file}: expected ${v.expect}, got ${verdict}`);
    }
    expect(disagreements).toEqual([]);
  }, 600_000);

  it('agrees on every hybrid-signed vector whose verdict is not an ML-DSA-44 one, reading the ML-DSA-44 parts in form', async () => {
    // Without an ML-DSA-44 implementation this verifier checks which key and which length, not the signature: a
    // vector that expects an ML-DSA-44 code is judged only with Node 26 (below); every other `needs` vector (the
    // genuine hybrid files, and tamper cases of other steps, such as the v5 firmware records) is judged here, so
    // that its verdict is tested where Node 26 cannot be fetched.
    const mlDsaCodes = new Set(['STATEMENT_PQ_SIGNATURE_ERROR', 'CHECKPOINT_PQ_SIGNATURE_ERROR']);
    const judged = manifest.vectors.filter((x) => 'needs' in x && !mlDsaCodes.has(x.expect));
    expect(judged.length).toBeGreaterThan(2);
    const disagreements: string[] = [];
    for (const v of judged) {
      const got = await python(join(FORMAT_DIR, v.file), manifest.ledgerVerifierKey, manifestPins(v));
      const verdict = got.ok ? 'ok' : String(got.code);
      if (verdict !== v.expect) disagreements.push(`${v.file}: expected ${v.expect}, got ${verdict}`);
    }
    expect(disagreements).toEqual([]);
  }, 600_000);

  it("follows a rotated ledger's keys in provenance documents, exports and renewal bundles (§5.4, §5.5.1, §14): every rotation vector whose verdict rests on no ML-DSA-44 signature", async () => {
    // With the manifest's pins (both genesis keys, the index log key, the hybrid policy), every vector without
    // `needs`, exports included: this verifier reads the checkpoint's ML-DSA-44 line and the ML-DSA-44 links in form
    // (which key, which length), so a missing line or link is judged; only a signature's validity is not.
    const judged = rotationManifest.vectors.filter((v) => !('needs' in v));
    expect(judged.filter((v) => v.kind === 'export').length).toBeGreaterThanOrEqual(4);
    expect(judged.filter((v) => v.kind === 'renewal').length).toBeGreaterThan(6);
    const disagreements: string[] = [];
    for (const v of judged) {
      const got = await rotationPython(v, ['--ledger-pq-key', pinnedKeys(v).mlDsa, '--map-key', rotationManifest.mapVerifierKey]);
      const verdict = got.ok ? 'ok' : String(got.code);
      if (verdict !== v.expect) disagreements.push(`${v.file}: expected ${v.expect}, got ${verdict}`);
    }
    expect(disagreements).toEqual([]);
  }, 600_000);

  it('gives the same verdicts under the classical policy (no ML-DSA-44 key pinned), the genuine files of every step included', async () => {
    // Every vector but the omitted ML-DSA-44 links: without an ML-DSA-44 key pinned nothing misses them (the
    // files are then refused for their kept statements, as ours refuses them). The `needs` vectors that are
    // genuine are judged here by their Ed25519 half; the forged ML-DSA-44 links only with ML-DSA-44 (below).
    const judged = rotationManifest.vectors.filter((v) => (!('needs' in v) || v.expect === 'ok') && !v.file.endsWith('ml-dsa-link-omitted.json') && !v.file.endsWith('ml-dsa-link-omitted.ndjson'));
    expect(judged.filter((v) => v.kind === 'export' && v.expect === 'ok').length).toBeGreaterThanOrEqual(3);
    expect(judged.filter((v) => v.kind === 'export-renewal').length).toBeGreaterThanOrEqual(2);
    const disagreements: string[] = [];
    for (const v of judged) {
      const got = await rotationPython(v, ['--map-key', rotationManifest.mapVerifierKey]);
      const verdict = got.ok ? 'ok' : String(got.code);
      // A renewal claims ML-DSA-44 coverage: without the ML-DSA-44 key it is refused before any step (§14).
      const expected = v.kind === 'renewal' || v.kind === 'export-renewal' ? 'LEDGER_KEY_ERROR' : v.expect;
      if (verdict !== expected) disagreements.push(`${v.file} (classical): expected ${expected}, got ${verdict}`);
    }
    expect(disagreements).toEqual([]);
  }, 600_000);

  it('with Node 26 as its ML-DSA-44 implementation (--ml-dsa-verifier), every rotation vector and every vector of the manifest that rests on ML-DSA-44', async (ctx) => {
    const node26 = fetchNode26(work);
    if ('reason' in node26) {
      console.log(`skipped: the ML-DSA-44 verdicts of the rotation vectors need Node 26 here: ${node26.reason}`);
      ctx.skip();
      return;
    }
    expect(rotationManifest.vectors.filter((v) => 'needs' in v).length).toBeGreaterThan(4);
    expect(rotationManifest.vectors.filter((v) => v.kind === 'export-renewal').length).toBeGreaterThanOrEqual(8);
    const disagreements: string[] = [];
    for (const v of rotationManifest.vectors) {
      const got = await rotationPython(v, ['--ledger-pq-key', pinnedKeys(v).mlDsa, '--map-key', rotationManifest.mapVerifierKey, '--ml-dsa-verifier', node26.binary]);
      const verdict = got.ok ? 'ok' : String(got.code);
      if (verdict !== v.expect) disagreements.push(`${v.file}: expected ${v.expect}, got ${verdict}`);
      // A genuine file is reported verified by both algorithms, its checkpoint's line and its statement alike; a
      // genuine renewal, its renewing checkpoint by both.
      const renewal = v.kind === 'renewal' || v.kind === 'export-renewal';
      if (got.ok && !renewal) expect(got, v.file).toMatchObject({ statementSignatures: ['Ed25519', 'ML-DSA-44'], checkpointSignatures: { mlDsa: expect.stringMatching(/verified by/) } });
      if (got.ok && renewal) expect(got, v.file).toMatchObject({ renewal: { signatures: ['Ed25519', 'ML-DSA-44'], mlDsa: expect.stringMatching(/verified by/) } });
    }
    const needing = manifest.vectors.filter((v) => 'needs' in v);
    expect(needing.length).toBeGreaterThan(4);
    for (const v of needing) {
      const got = await python(join(FORMAT_DIR, v.file), manifest.ledgerVerifierKey, [...manifestPins(v), '--ml-dsa-verifier', node26.binary]);
      const verdict = got.ok ? 'ok' : String(got.code);
      if (verdict !== v.expect) disagreements.push(`${v.file}: expected ${v.expect}, got ${verdict}`);
    }
    expect(disagreements).toEqual([]);
  }, 600_000);

  it('accepts a provenance document and an export from a real ledger, and refuses them against another key', async () => {
    const t = await startTestLedger();
    try {
      const station = new SimulatedStation(new LedgerClient(t.url, t.tokens.station1), new EventSigner(t.stationKeys['ST-01'], 'ST-01'), { stationId: 'ST-01', operator: 'op', batchId: t.batchId, hardwareRevision: 'rev-C' }, t.release);
      await station.flash('IV-1', 'app-mismatch-then-rework');
      await station.flash('IV-2', 'pass');
      const auditor = new LedgerClient(t.url, t.tokens.auditor);
      const key = (await auditor.getText('/v1/ledger/key')).trim();
      const doc = join(work, 'iv-1.json');
      writeFileSync(doc, JSON.stringify(await auditor.get('/v1/units/IV-1/provenance')));
      const response = await fetch(`${t.url}/v1/exports`, { method: 'POST', headers: { authorization: `Bearer ${t.tokens.auditor}`, 'content-type': 'application/json' }, body: JSON.stringify({ batchId: t.batchId }) });
      const file = join(work, 'batch.ndjson');
      writeFileSync(file, await response.text());
      expect(await python(doc, key)).toMatchObject({ ok: true });
      expect(await python(file, key)).toMatchObject({ ok: true });
      expect(await python(file, manifest.ledgerVerifierKey)).toMatchObject({ ok: false });
    } finally {
      await t.stop();
    }
  }, 120_000);
});
