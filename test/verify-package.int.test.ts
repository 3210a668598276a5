/**
 * The standalone verifier as an auditor gets it: `npm pack` of packages/verify, installed from the tarball
 * into an empty directory with `npm install --offline` and an empty npm cache (so it can have nothing to fetch
 * and nothing to compile), then run on a real export and provenance document, native and portable, and on
 * tampered copies, and on two checkpoints with a consistency proof: its verdicts are those of `flashtrail verify`
 * and `flashtrail verify-consistency`, code for code and location for location.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FLASHTRAIL_BIN, ROOT } from './helpers/cli.ts';
import { FORMAT_VECTOR_DIR, manifest } from './helpers/format-vectors.ts';
import { brokenPqCheckpoints, lastEventDropped, makeEvidence, tamperedExports, tamperedProvenance, type Evidence } from './helpers/evidence.ts';
import { SimulatedStation } from '../src/sim/simulated-station.ts';
import { LedgerClient } from '../src/client/ledger-client.ts';
import { EventSigner } from '../src/event/signer.ts';

const run = promisify(execFile);
let evidence: Evidence;
let home: string;
let bin: string;

interface Verdict {
  code: number;
  json: { ok: boolean; report?: Record<string, unknown>; error?: { code: string; step: string; message: string; location: Record<string, unknown> } };
}

async function verdictOf(command: string[], args: string[]): Promise<Verdict> {
  try {
    const { stdout } = await run(process.execPath, [...command, ...args, '--json'], { cwd: home, maxBuffer: 1 << 26 });
    return { code: 0, json: JSON.parse(stdout) as Verdict['json'] };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number' || !e.stdout) throw error;
    return { code: e.code, json: JSON.parse(e.stdout) as Verdict['json'] };
  }
}

const standalone = (...args: string[]) => verdictOf([bin], args);
const flashtrail = (...args: string[]) => verdictOf([FLASHTRAIL_BIN, 'verify'], args);
/** What may differ between two runs of the same verification: timing, memory, threads, the crypto backend. */
const verdictOnly = (r: Record<string, unknown> | undefined) => {
  const { seconds, cpuSeconds, peakMemoryMb: _m, threads: _t, crypto: _c, steps, ...rest } = r ?? {};
  // A report timed in wall-clock seconds says its CPU time too (all threads): what a benchmark compares.
  if (seconds !== undefined) expect(cpuSeconds).toBeGreaterThan(0);
  // A step's detail names the backend that ran it ("native Ed25519 on 2 thread(s)"): the verdict is the rest.
  return { ...rest, steps: (steps as { step: string; detail: string }[]).map((s) => ({ ...s, detail: s.detail.replace(/\b(native|portable) Ed25519 on \d+ thread/, 'Ed25519 on N thread') })) };
};

beforeAll(async () => {
  evidence = await makeEvidence(40);
  home = mkdtempSync(join(tmpdir(), 'flashtrail-auditor-'));
  // The tarball is built from the bundle `npm run build` wrote (the int tier's globalSetup ran it).
  const packed = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', home], { cwd: join(ROOT, 'packages', 'verify'), encoding: 'utf8' })) as { filename: string; files: { path: string }[] }[];
  const tarball = join(home, (packed[0] as { filename: string }).filename);
  writeFileSync(join(home, 'package.json'), JSON.stringify({ name: 'auditor', version: '1.0.0', private: true }));
  mkdirSync(join(home, 'empty-cache'));
  execFileSync('npm', ['install', '--offline', '--no-audit', '--no-fund', '--cache', join(home, 'empty-cache'), tarball], { cwd: home, stdio: 'pipe', env: { ...process.env, npm_config_userconfig: join(home, 'no-npmrc') } });
  bin = join(home, 'node_modules', '.bin', 'flashtrail-verify');
}, 180_000);

afterAll(async () => {
  await evidence?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
});

describe('@flashtrail/verify, packed and installed offline into an empty directory', () => {
  it('installs nothing but itself: no dependency, no install script, no native addon, nothing of the server', () => {
    const installed = readdirSync(join(home, 'node_modules'), { recursive: true, withFileTypes: true }).filter((f) => f.isFile()).map((f) => join(f.parentPath, f.name).slice(join(home, 'node_modules').length + 1));
    expect(installed.every((f) => f.startsWith('@flashtrail/verify/') || f.startsWith('.package-lock.json'))).toBe(true);
    expect(installed.filter((f) => f.endsWith('.node'))).toEqual([]);
    const manifest = JSON.parse(readFileSync(join(home, 'node_modules', '@flashtrail', 'verify', 'package.json'), 'utf8')) as Record<string, unknown>;
    expect(manifest['dependencies']).toBeUndefined();
    expect(manifest['scripts']).toBeUndefined();
    const bundle = readFileSync(join(home, 'node_modules', '@flashtrail', 'verify', 'dist', 'flashtrail-verify.js'), 'utf8');
    for (const serverOnly of ['better-sqlite3', 'serialport', 'hono', 'pino', 'startLedgerServer']) expect(bundle, serverOnly).not.toContain(serverOnly);
  });

  it('verifies a real export, native and portable, with the verdict of flashtrail verify', async () => {
    const [native, portable, cli] = await Promise.all([
      standalone(evidence.exportFile, '--ledger-key', `@${evidence.keyFile}`),
      standalone(evidence.exportFile, '--ledger-key', `@${evidence.keyFile}`, '--portable'),
      flashtrail(evidence.exportFile, '--ledger-key', `@${evidence.keyFile}`),
    ]);
    expect(native.code).toBe(0);
    expect(native.json.report?.['units']).toBe(40);
    expect(native.json.report?.['crypto']).not.toBe(portable.json.report?.['crypto']);
    expect(verdictOnly(portable.json.report)).toEqual(verdictOnly(native.json.report));
    expect(verdictOnly(cli.json.report)).toEqual(verdictOnly(native.json.report));
  });

  it('verifies a real provenance document, native and portable', async () => {
    const native = await standalone(evidence.provenanceFile, '--ledger-key', evidence.verifierKey);
    const cli = await flashtrail(evidence.provenanceFile, '--ledger-key', evidence.verifierKey);
    expect(native.code).toBe(0);
    expect(native.json.report?.['serial']).toBe(evidence.serial);
    expect(native.json.report).toEqual(cli.json.report);
    // The human form: the same named steps, then the verdict.
    const { stdout } = await run(bin, [evidence.provenanceFile, '--ledger-key', evidence.verifierKey], { cwd: home });
    expect(stdout).toMatch(new RegExp(`^verifying provenance of unit ${evidence.serial}`));
    expect(stdout).toMatch(/ {2}ok {2}inclusion/);
    expect(stdout).toMatch(/\nverified: /);
  });

  it('refuses every tampered export and a tampered provenance document with the code and location flashtrail verify gives', async () => {
    for (const [i, t] of tamperedExports(evidence).entries()) {
      const [ours, cli, portable] = await Promise.all([
        standalone(t.file, '--ledger-key', `@${evidence.keyFile}`),
        flashtrail(t.file, '--ledger-key', `@${evidence.keyFile}`),
        // The portable path once (it is the slow one; the export test holds it to every case).
        i === 0 ? standalone(t.file, '--ledger-key', `@${evidence.keyFile}`, '--portable') : null,
      ]);
      expect(ours.code, t.name).toBe(1);
      expect(ours.json.ok, t.name).toBe(false);
      expect(ours.json.error, t.name).toEqual(cli.json.error);
      if (portable) expect(portable.json.error, t.name).toEqual(cli.json.error);
      if (t.serial) expect(ours.json.error?.location['serial'], t.name).toBe(t.serial);
    }
    const doc = tamperedProvenance(evidence);
    const ours = await standalone(doc, '--ledger-key', evidence.verifierKey);
    expect(ours.code).toBe(1);
    expect(ours.json.error).toEqual((await flashtrail(doc, '--ledger-key', evidence.verifierKey)).json.error);
    // A dozen verifier processes: minutes on a busy 2-core machine.
  }, 300_000);

  it("takes the index log key (--map-key) as flashtrail verify does: a v4 export proved complete, one with a unit's last event dropped HISTORY_INCOMPLETE", async () => {
    const [ours, cli] = await Promise.all([standalone(evidence.exportFile, '--ledger-key', `@${evidence.keyFile}`, '--map-key', evidence.mapVerifierKey), flashtrail(evidence.exportFile, '--ledger-key', `@${evidence.keyFile}`, '--map-key', evidence.mapVerifierKey)]);
    expect(ours.code).toBe(0);
    expect((ours.json.report as { history?: { size: number } }).history?.size).toBe((ours.json.report as { checkpoint: { size: number } }).checkpoint.size);
    expect(verdictOnly(ours.json.report)).toEqual(verdictOnly(cli.json.report));
    const dropped = lastEventDropped(evidence);
    const [bad, badCli] = await Promise.all([standalone(dropped.file, '--ledger-key', `@${evidence.keyFile}`, '--map-key', evidence.mapVerifierKey), flashtrail(dropped.file, '--ledger-key', `@${evidence.keyFile}`, '--map-key', evidence.mapVerifierKey)]);
    expect(bad.code).toBe(1);
    expect(bad.json.error).toMatchObject({ code: 'HISTORY_INCOMPLETE', location: { serial: dropped.serial } });
    expect(bad.json.error).toEqual(badCli.json.error);
  }, 300_000);

  it('takes the index log key for a v5 export by firmware as flashtrail verify does: complete for the firmware, a unit record removed EXPORT_INCOMPLETE', async () => {
    const keys = ['--ledger-key', manifest.ledgerVerifierKey, '--map-key', manifest.mapVerifierKey];
    const genuine = join(FORMAT_VECTOR_DIR, 'v5/genuine.export.ndjson');
    const [ours, cli] = await Promise.all([standalone(genuine, ...keys), flashtrail(genuine, ...keys)]);
    expect(ours.code).toBe(0);
    expect(ours.json.report).toMatchObject({ firmwareAnswer: { complete: true, now: 2, formerly: 0, inFile: 2 } });
    expect(verdictOnly(ours.json.report)).toEqual(verdictOnly(cli.json.report));
    const removed = join(FORMAT_VECTOR_DIR, 'v5/export.unit-removed.ndjson');
    const [bad, badCli] = await Promise.all([standalone(removed, ...keys), flashtrail(removed, ...keys)]);
    expect(bad.code).toBe(1);
    expect(bad.json.error).toMatchObject({ code: 'EXPORT_INCOMPLETE', location: { serial: 'SN-0002' } });
    expect(bad.json.error).toEqual(badCli.json.error);
  }, 300_000);

  it('takes the pinned ML-DSA-44 key and a signature policy as flashtrail verify does: hybrid verifies both signatures and refuses a checkpoint whose ML-DSA-44 line is removed or corrupted', async () => {
    const pq = ['--ledger-pq-key', `@${evidence.pqKeyFile}`];
    const key = ['--ledger-key', `@${evidence.keyFile}`];
    for (const file of [evidence.exportFile, evidence.provenanceFile]) {
      const [ours, cli] = await Promise.all([standalone(file, ...key, ...pq), flashtrail(file, ...key, ...pq)]);
      expect(ours.code, file).toBe(0);
      expect(ours.json.report?.['signatures'], file).toEqual(['Ed25519', 'ML-DSA-44']);
      expect(verdictOnly(ours.json.report), file).toEqual(verdictOnly(cli.json.report));
      // Without the ML-DSA-44 key, the default policy is classical: Ed25519 alone is checked, and said.
      expect((await standalone(file, ...key)).json.report?.['signatures'], file).toEqual(['Ed25519']);
    }
    for (const c of brokenPqCheckpoints(evidence)) {
      for (const file of [c.exportFile, c.provenanceFile]) {
        const [ours, cli, portable] = await Promise.all([standalone(file, ...key, ...pq), flashtrail(file, ...key, ...pq), standalone(file, ...key, ...pq, '--portable')]);
        expect(ours.code, `${c.name} ${file}`).toBe(1);
        expect(ours.json.error?.code, `${c.name} ${file}`).toBe('CHECKPOINT_PQ_SIGNATURE_ERROR');
        expect(ours.json.error, `${c.name} ${file}`).toEqual(cli.json.error);
        expect(portable.json.error, `${c.name} ${file}`).toEqual(cli.json.error);
        // Classical: a missing ML-DSA-44 line is accepted (older evidence); a corrupted one by the pinned key is not.
        // (The export's edited line 2 also no longer hashes to its statement's content digest: CONTENT_DIGEST_ERROR.)
        const classicalArgs = [...key, ...pq, '--signatures', 'classical'];
        const [classical, cliClassical] = await Promise.all([standalone(file, ...classicalArgs), flashtrail(file, ...classicalArgs)]);
        expect(classical.json.error, `${c.name} ${file}`).toEqual(cliClassical.json.error);
        if (c.name === 'pq-line-corrupted') expect(classical.json.error?.code, file).toBe('CHECKPOINT_PQ_SIGNATURE_ERROR');
        // The checkpoint passes on Ed25519 alone, but the edited note is no longer what the ledger's statement
        // signed (the export's content digest covers line 2; a v3 document's digest covers its checkpoint).
        else expect(classical.json.error?.code, file).toBe('CONTENT_DIGEST_ERROR');
      }
    }
    // The human form says which algorithms verified.
    const { stdout } = await run(bin, [evidence.provenanceFile, ...key, ...pq], { cwd: home });
    expect(stdout).toMatch(/ {2}ok {2}checkpoint +signed by \S+ \([0-9a-f]+\) with Ed25519 \+ ML-DSA-44:/);
  }, 300_000);

  it('verifies that a newer checkpoint extends an older one, and refuses a proof that does not, as flashtrail verify-consistency does', async () => {
    const t = evidence.ledger;
    const auth = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });
    const oldNote = await (await fetch(`${t.url}/v1/checkpoint`, auth(t.tokens.auditor))).text();
    const station = new SimulatedStation(new LedgerClient(t.url, t.tokens.station1), new EventSigner(t.stationKeys['ST-01'], 'ST-01'), { stationId: 'ST-01', operator: 'op', batchId: t.batchId, hardwareRevision: 'rev-C' }, t.release);
    await station.flash('SN-CONSISTENCY-1', 'pass');
    const issued = await fetch(`${t.url}/v1/checkpoint`, { method: 'POST', ...auth(t.tokens.admin) });
    expect(issued.status).toBe(201);
    const newNote = await issued.text();
    const size = (note: string) => Number(note.split('\n')[1]);
    expect(size(newNote)).toBeGreaterThan(size(oldNote));
    const proof = (await (await fetch(`${t.url}/v1/proofs/consistency?from=${size(oldNote)}&to=${size(newNote)}`, auth(t.tokens.auditor))).json()) as { proof: string[] };
    const [oldFile, newFile, proofFile, badProofFile] = ['old.checkpoint', 'new.checkpoint', 'consistency.json', 'bad-consistency.json'].map((f) => join(home, f)) as [string, string, string, string];
    writeFileSync(oldFile, oldNote);
    writeFileSync(newFile, newNote);
    writeFileSync(proofFile, JSON.stringify(proof));
    writeFileSync(badProofFile, JSON.stringify({ proof: [...proof.proof].reverse().concat(proof.proof.length < 2 ? [Buffer.alloc(32).toString('base64')] : []) }));
    const consistency = (command: string[], proofPath: string) => verdictOf(command, [oldFile, newFile, '--ledger-key', `@${evidence.keyFile}`, '--proof', proofPath]);
    const ok = await consistency([bin, 'consistency'], proofFile);
    expect(ok.code).toBe(0);
    expect(ok.json.report).toEqual((await consistency([FLASHTRAIL_BIN, 'verify-consistency'], proofFile)).json.report);
    const bad = await consistency([bin, 'consistency'], badProofFile);
    expect(bad.code).toBe(1);
    expect(bad.json.error?.code).toBe('CONSISTENCY_PROOF_ERROR');
    expect(bad.json.error).toEqual((await consistency([FLASHTRAIL_BIN, 'verify-consistency'], badProofFile)).json.error);
  });

  it("exports a monitor's and a SCITT verifier's building blocks as library API: LogAudit audits the real log to its checkpoint, a COSE Receipt verifies and a changed entry is refused", async () => {
    // An auditor's own script, importing nothing but the installed package (and node's fetch).
    const script = join(home, 'library.mjs');
    writeFileSync(
      script,
      `import { LogAudit, parseVerifierKey, nativeCrypto, parseScittKeySet, scittKeyForReceipt, verifyReceipt, ScittError } from '@flashtrail/verify';
const [url, token, key] = process.argv.slice(2);
const get = async (path) => { const r = await fetch(url + path, { headers: { authorization: 'Bearer ' + token } }); if (!r.ok) throw new Error(path + ' ' + r.status); return r; };
const note = await (await get('/v1/checkpoint')).text();
const audit = LogAudit.start(parseVerifierKey(key), nativeCrypto);
const findings = [];
const entries = [];
const size = Number(note.split('\\n')[1]);
// Never past the checkpoint's tree: the log may have grown since it was signed.
while (audit.size < size) {
  const page = await (await get('/v1/log/entries?limit=' + Math.min(1000, size - audit.size) + (audit.cursor !== null ? '&after=' + audit.cursor : ''))).json();
  if (page.entries.length === 0) break;
  const bytes = page.entries.map((e) => new Uint8Array(Buffer.from(e, 'base64')));
  entries.push(...bytes);
  findings.push(...audit.observePage(bytes, page.next));
}
const checkpoint = audit.checkCheckpoint(note);
const leaf = entries.length - 1;
const receipt = new Uint8Array(await (await get('/entries/' + leaf)).arrayBuffer());
const keys = parseScittKeySet(new Uint8Array(await (await get('/.well-known/scitt-keys')).arrayBuffer()));
const verified = verifyReceipt(receipt, entries[leaf], scittKeyForReceipt(keys, receipt), nativeCrypto);
const changed = Uint8Array.from(entries[leaf]); changed[changed.length - 2] ^= 1;
let refused = null;
try { verifyReceipt(receipt, changed, scittKeyForReceipt(keys, receipt), nativeCrypto); } catch (e) { refused = e instanceof ScittError ? e.code : String(e); }
console.log(JSON.stringify({ audited: audit.size, checkpointSize: checkpoint.size, findings, leaf, receipt: { index: verified.index, size: verified.size }, refused }));
`,
    );
    const { stdout } = await run(process.execPath, [script, evidence.ledger.url, evidence.ledger.tokens.auditor, evidence.verifierKey], { cwd: home });
    const out = JSON.parse(stdout) as { audited: number; checkpointSize: number; findings: unknown[]; leaf: number; receipt: { index: number; size: number }; refused: string | null };
    expect(out.checkpointSize).toBeGreaterThan(0);
    expect(out.audited).toBe(out.checkpointSize);
    expect(out.findings).toEqual([]);
    expect(out.receipt.index).toBe(out.leaf);
    expect(out.receipt.size).toBeGreaterThan(out.leaf);
    expect(out.refused).toBe('RECEIPT_PROOF_ERROR');
  });

  it('fails as the CLI does, in one line and without a stack: a bad key, a missing file, a usage error', async () => {
    const badKey = await run(bin, [evidence.exportFile, '--ledger-key', 'not-a-key'], { cwd: home }).catch((e: { code: number; stderr: string }) => e);
    expect((badKey as { code: number }).code).toBe(1);
    expect((badKey as { stderr: string }).stderr).toMatch(/^flashtrail-verify: .*not a ledger verifier key.*\n$/);
    const missing = await run(bin, [join(home, 'nothing.json'), '--ledger-key', evidence.verifierKey], { cwd: home }).catch((e: { code: number; stderr: string }) => e);
    expect((missing as { code: number }).code).toBe(1);
    expect((missing as { stderr: string }).stderr).toMatch(/^flashtrail-verify: .*no such file or directory\n$/);
    const usage = await run(bin, [evidence.exportFile], { cwd: home }).catch((e: { code: number; stderr: string }) => e);
    expect((usage as { code: number }).code).toBe(2);
    expect((usage as { stderr: string }).stderr).toBe('flashtrail-verify: `flashtrail-verify` needs --ledger-key KEY|@FILE; see flashtrail-verify --help\n');
    expect(existsSync(join(home, 'node_modules', '@flashtrail', 'verify', 'dist', 'export-worker.js'))).toBe(true);
    expect(statSync(bin).mode & 0o111).not.toBe(0);
  });
});
