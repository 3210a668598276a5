/**
 * Interoperability: our checkpoints, inclusion proofs and consistency proofs are checked by the Go
 * reference implementation (golang.org/x/mod/sumdb/note and sumdb/tlog, Debian golang-golang-x-mod-dev),
 * through the small program in test/interop/go. CI installs Go; elsewhere the test says why it is skipped.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { startTestLedger } from './helpers/ledger-fixture.ts';
import { SimulatedStation } from '../src/sim/simulated-station.ts';
import { LedgerClient } from '../src/client/ledger-client.ts';
import { EventSigner } from '../src/event/signer.ts';
import { configFromEnv, initDataDir, ledgerIdentity } from '../src/server/main.ts';
import { initWitnessDirectory } from '../src/witness/directory.ts';
import { startWitnessServer } from '../src/witness/server.ts';
import { pino } from 'pino';

const GO_PROGRAM = join(fileURLToPath(import.meta.url), '..', 'interop', 'go', 'verify.go');
const GOPATH = '/usr/share/gocode';
const run = promisify(execFile);

function goAvailable(): string | null {
  try {
    execFileSync('go', ['version'], { stdio: 'ignore' });
  } catch {
    return 'the go toolchain is not installed (apt-get install golang-go golang-golang-x-mod-dev)';
  }
  if (!existsSync(join(GOPATH, 'src/golang.org/x/mod/sumdb/note'))) return `golang.org/x/mod is not in ${GOPATH} (apt-get install golang-golang-x-mod-dev)`;
  return null;
}

const skipReason = goAvailable();
if (skipReason) console.warn(`interop test skipped: ${skipReason}`);

describe.skipIf(skipReason !== null)('interoperability with golang.org/x/mod/sumdb', () => {
  it('note.Open accepts our checkpoints; tlog.CheckRecord and tlog.CheckTree accept our proofs; tampering is refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flashtrail-interop-'));
    const t = await startTestLedger();
    try {
      const auditor = new LedgerClient(t.url, t.tokens.auditor);
      const admin = (path: string) => fetch(`${t.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${t.tokens.admin}` } }).then((r) => r.text());
      const station = new SimulatedStation(new LedgerClient(t.url, t.tokens.station1), new EventSigner(t.stationKeys['ST-01'], 'ST-01'), { stationId: 'ST-01', operator: 'op', batchId: t.batchId, hardwareRevision: 'rev-C' }, t.release);
      await station.flash('I-1', 'pass');
      const oldCheckpoint = await admin('/v1/checkpoint');
      await station.flash('I-2', 'app-mismatch-then-rework');
      await station.flash('I-3', 'pass');
      const checkpoint = await admin('/v1/checkpoint');
      const size = Number(checkpoint.split('\n')[1]);
      const oldSize = Number(oldCheckpoint.split('\n')[1]);
      const inclusion = await Promise.all(
        [0, 1, oldSize - 1, oldSize, size - 2, size - 1].map((index) => auditor.get<{ index: number; leafHash: string; proof: string[] }>(`/v1/proofs/inclusion?index=${index}&size=${size}`)),
      );
      const consistency = await auditor.get<{ proof: string[] }>(`/v1/proofs/consistency?from=${oldSize}&to=${size}`);
      const verifierKey = (await (await fetch(`${t.url}/v1/ledger/key`, { headers: { authorization: `Bearer ${t.tokens.auditor}` } })).text()).trim();
      const input = {
        verifierKey,
        oldCheckpoint,
        checkpoint,
        inclusion: inclusion.map((i) => ({ index: i.index, leafHash: Buffer.from(i.leafHash, 'hex').toString('base64'), proof: i.proof })),
        consistency: consistency.proof,
        // The ledger's ML-DSA-44 line: note.Open must carry it unverified and accept the note by its Ed25519 line.
        unverifiedSigs: 1,
      };
      expect(checkpoint.split('\n').filter((l) => l.startsWith('— ')).length).toBe(2);
      const goEnv = { ...process.env, GO111MODULE: 'off', GOPATH, GOCACHE: join(dir, 'gocache'), GOFLAGS: '' };
      const file = join(dir, 'input.json');
      writeFileSync(file, JSON.stringify(input));
      const ok = await run('go', ['run', GO_PROGRAM, file], { env: goEnv, timeout: 240_000 });
      expect(ok.stdout.trim()).toBe(`ok ${1 + inclusion.length + 2} checks`);

      const flipped = { ...input, inclusion: [{ ...input.inclusion[2]!, index: input.inclusion[2]!.index + 1 }] };
      writeFileSync(file, JSON.stringify(flipped));
      await expect(run('go', ['run', GO_PROGRAM, file], { env: goEnv, timeout: 240_000 })).rejects.toMatchObject({ stderr: expect.stringMatching(/FAIL tlog.CheckRecord/) });

      // The Ed25519 line (the first) with one signature byte changed.
      const otherKey = { ...input, checkpoint: checkpoint.replace(/\n\n— (\S+) (\S+)\n/, (_m, name: string, sig: string) => `\n\n— ${name} ${sig.slice(0, 10)}${sig[10] === 'A' ? 'B' : 'A'}${sig.slice(11)}\n`) };
      expect(otherKey.checkpoint).not.toBe(checkpoint);
      writeFileSync(file, JSON.stringify(otherKey));
      await expect(run('go', ['run', GO_PROGRAM, file], { env: goEnv, timeout: 240_000 })).rejects.toMatchObject({ stderr: expect.stringMatching(/FAIL note.Open/) });
    } finally {
      await t.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('note.Open accepts a witness-cosigned checkpoint by the ledger line; cosignature/v1 verifies from the spec in Go', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flashtrail-interop-'));
    const ledgerDir = join(dir, 'ledger');
    const config = configFromEnv({}, { dataDir: ledgerDir, port: 0, logLevel: 'silent' });
    initDataDir(config);
    const verifierKey = ledgerIdentity(config).verifierKey;
    initWitnessDirectory(join(dir, 'witness'), 'interop.example/witness', [verifierKey]);
    const witness = await startWitnessServer(join(dir, 'witness'), { host: '127.0.0.1', port: 0 }, { logger: pino({ level: 'silent' }) });
    writeFileSync(join(dir, 'policy'), `witness W ${witness.verifierKey} ${witness.url}\nquorum W\n`);
    const t = await startTestLedger({ dataDir: ledgerDir, witnessPolicyFile: join(dir, 'policy') });
    try {
      const station = new SimulatedStation(new LedgerClient(t.url, t.tokens.station1), new EventSigner(t.stationKeys['ST-01'], 'ST-01'), { stationId: 'ST-01', operator: 'op', batchId: t.batchId, hardwareRevision: 'rev-C' }, t.release);
      await station.flash('W-1', 'pass');
      const checkpoint = await fetch(`${t.url}/v1/checkpoint`, { method: 'POST', headers: { authorization: `Bearer ${t.tokens.admin}` } }).then((r) => r.text());
      expect(checkpoint).toMatch(/\n— interop\.example\/witness \S+\n$/);
      const goEnv = { ...process.env, GO111MODULE: 'off', GOPATH, GOCACHE: join(dir, 'gocache'), GOFLAGS: '' };
      const file = join(dir, 'input.json');
      // Unverified by note.Open: the witness's cosignature and the ledger's own ML-DSA-44 line.
      writeFileSync(file, JSON.stringify({ verifierKey, checkpoint, inclusion: [], consistency: [], cosigners: [witness.verifierKey], unverifiedSigs: 2 }));
      const ok = await run('go', ['run', GO_PROGRAM, file], { env: goEnv, timeout: 240_000 });
      expect(ok.stdout.trim()).toBe('ok 2 checks');
      // The cosignature's timestamp changed: note.Open still accepts the ledger's line, the cosignature fails.
      const line = checkpoint.split('\n').find((l) => l.startsWith('— interop.example/witness ')) as string;
      const raw = Buffer.from(line.split(' ')[2] as string, 'base64');
      raw[11] = (raw[11] as number) ^ 1;
      const forged = checkpoint.replace(line, `— interop.example/witness ${raw.toString('base64')}`);
      writeFileSync(file, JSON.stringify({ verifierKey, checkpoint: forged, inclusion: [], consistency: [], cosigners: [witness.verifierKey], unverifiedSigs: 2 }));
      await expect(run('go', ['run', GO_PROGRAM, file], { env: goEnv, timeout: 240_000 })).rejects.toMatchObject({ stderr: expect.stringMatching(/FAIL cosignature by interop.example\/witness does not verify/) });
    } finally {
      await t.stop();
      await witness.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
