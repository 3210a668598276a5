/**
 * Export renewal across both key rotations, on a real ledger process (docs/format.md §14.1): `flashtrail export`
 * from `flashtrail serve` with its first keys; the ledger stopped, `flashtrail keys rotate` and `keys rotate
 * --ml-dsa`; served again, one more unit flashed; then `flashtrail renew EXPORT` writes a flashtrail.renewal.v3
 * bundle and `flashtrail verify EXPORT --renewal BUNDLE`, pinned to the keys of the export's time, reports it
 * renewed by the newer hybrid checkpoint (and so does @flashtrail/verify's command). A bundle for another export is RENEWAL_SUBJECT_MISMATCH, a forged
 * consistency proof CONSISTENCY_PROOF_ERROR, a bundle without its rotations is refused at the renewal checkpoint,
 * and the new keys alone do not verify the old export (what the renewal's pinned-old-keys design is for). The
 * offline page `flashtrail export` wrote beside the export gives the same verdicts in headless Chromium (skipped,
 * saying why, without Chromium).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { startTestLedger } from './helpers/ledger-fixture.ts';
import { spawnLedger, type ServerProcess } from './helpers/server-process.ts';
import { SimulatedStation } from '../src/sim/simulated-station.ts';
import { LedgerClient } from '../src/client/ledger-client.ts';
import { EventSigner } from '../src/event/signer.ts';
import { toBase64 } from '../src/crypto/encoding.ts';
import { chromiumSkip, startBrowser, type Browser } from './helpers/browser.ts';
import { pathToFileURL } from 'node:url';
import type { ExportRenewalBundle, ExportRenewalReport } from '../src/verify/index.ts';

const ROOT = join(fileURLToPath(import.meta.url), '..', '..');
const run = promisify(execFile);
const work = mkdtempSync(join(tmpdir(), 'flashtrail-export-renewal-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const cli = (args: string[]) => run(process.execPath, [join(ROOT, 'bin', 'flashtrail.js'), ...args], { maxBuffer: 1 << 26 }).then((r) => ({ code: 0, ...r }), (e: { code: number; stdout: string; stderr: string }) => e);
const get = async (url: string, token: string, path: string) => (await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${token}` } })).text();
if (chromiumSkip) console.warn(`export renewal in the offline verifier page not checked: ${chromiumSkip}`);

/** The page from file://, the keys filled in, the bundle chosen in its own input (or both files in the drop input). */
async function pageVerdict(browser: Browser, pageFile: string, exportFile: string, bundleFile: string, keys: { ledgerKey: string; pqKey: string }, together = false): Promise<{ state: string; code?: string; step?: string; text: string; board: { step: string; state: string }[] }> {
  const page = await browser.newPage();
  try {
    await page.goto(pathToFileURL(pageFile).href);
    await page.getByLabel(/Ledger verifier key/).fill(keys.ledgerKey);
    await page.getByLabel(/ML-DSA-44 verifier key/).fill(keys.pqKey);
    if (together) await page.locator('#file').setInputFiles([bundleFile, exportFile]);
    else {
      await page.locator('#renewal').setInputFiles(bundleFile);
      await page.locator('#file').setInputFiles(exportFile);
    }
    await page.locator('#verdict[data-state="verified"], #verdict[data-state="failed"], #verdict[data-state="error"]').waitFor({ timeout: 120_000 });
    return await page.evaluate(() => {
      const v = document.getElementById('verdict') as HTMLElement;
      const board = Array.from(document.querySelectorAll<HTMLElement>('#steps li'), (li) => ({ step: li.dataset['step'] ?? '', state: li.dataset['state'] ?? '' }));
      return { ...v.dataset, state: v.dataset['state'] ?? '', text: v.textContent ?? '', board };
    });
  } finally {
    await page.close();
  }
}

const jsonOf = (r: { stdout: string }) => JSON.parse(r.stdout) as { ok: boolean; report?: ExportRenewalReport; error?: { code: string; step: string; location: { file?: string; field?: string } } };

describe('export renewal (flashtrail renew EXPORT, flashtrail verify EXPORT --renewal BUNDLE)', () => {
  it('renews an export made before both key rotations; verified offline pinned to the old keys; another export, a forged proof and left-out rotations are refused', async () => {
    const dataDir = join(work, 'ledger');
    // Line setup and two units in process; the ledger then runs as `flashtrail serve`, a real child process.
    const setup = await startTestLedger({ dataDir });
    const { auditor, station1 } = setup.tokens;
    const flash = (url: string, serial: string) =>
      new SimulatedStation(new LedgerClient(url, station1), new EventSigner(setup.stationKeys['ST-01'], 'ST-01'), { stationId: 'ST-01', operator: 'op', batchId: setup.batchId, hardwareRevision: 'rev-C' }, setup.release).flash(serial, 'pass');
    try {
      await flash(setup.url, 'R-1');
      await flash(setup.url, 'R-2');
    } finally {
      await setup.stop();
    }
    const tokenFile = join(work, 'auditor.token');
    writeFileSync(tokenFile, `${auditor}\n`, { mode: 0o600 });
    const exportFile = join(work, 'batch.ndjson');
    let oldKey: string;
    let oldPq: string;
    let first: ServerProcess = await spawnLedger(dataDir);
    try {
      oldKey = (await get(first.url, auditor, '/v1/ledger/key')).trim();
      oldPq = (await get(first.url, auditor, '/v1/ledger/pq-key')).trim();
      const exported = await cli(['export', '--batch', setup.batchId, '--out', exportFile, '--url', first.url, '--token-file', tokenFile]);
      expect(exported.code, exported.stderr).toBe(0);
    } finally {
      await first.kill('SIGTERM');
    }

    for (const args of [['keys', 'rotate', '--data', dataDir], ['keys', 'rotate', '--ml-dsa', '--data', dataDir]]) {
      const rotated = await cli(args);
      expect(rotated.code, rotated.stderr).toBe(0);
    }
    first = await spawnLedger(dataDir);
    const bundleFile = join(work, 'batch.renewed.json');
    const laterExport = join(work, 'later.ndjson');
    let newKey: string;
    let newPq: string;
    try {
      newKey = (await get(first.url, auditor, '/v1/ledger/key')).trim();
      newPq = (await get(first.url, auditor, '/v1/ledger/pq-key')).trim();
      expect(newKey).not.toBe(oldKey);
      expect(newPq).not.toBe(oldPq);
      await flash(first.url, 'R-3');
      const renewed = await cli(['renew', exportFile, '--url', first.url, '--token-file', tokenFile]);
      expect(renewed.code, renewed.stderr).toBe(0);
      expect(renewed.stdout).toMatch(/^wrote .*batch\.renewed\.json: export .*batch\.ndjson \(SHA-256 [0-9a-f]{16}…, checkpoint \d+\) renewed by checkpoint \d+, Ed25519 \+ ML-DSA-44, across 2 ledger key rotation\(s\)\n$/);
      const again = await cli(['export', '--batch', setup.batchId, '--out', laterExport, '--url', first.url, '--token-file', tokenFile]);
      expect(again.code, again.stderr).toBe(0);
    } finally {
      await first.kill('SIGTERM');
    }

    // The ledger is gone: everything below is offline.
    const exportBytes = readFileSync(exportFile);
    const bundle = JSON.parse(readFileSync(bundleFile, 'utf8')) as ExportRenewalBundle;
    expect(Object.keys(bundle).sort()).toEqual(['checkpoint', 'consistency', 'format', 'rotations', 'subject']);
    expect(bundle.format).toBe('flashtrail.renewal.v3');
    expect(bundle.subject).toEqual({ kind: 'export', sha256: createHash('sha256').update(exportBytes).digest('hex'), checkpoint: (JSON.parse(exportBytes.toString('utf8').split('\n')[1] as string) as { note: string }).note });
    expect(bundle.rotations).toHaveLength(2);
    const pinnedOld = ['--ledger-key', oldKey, '--ledger-pq-key', oldPq];

    const ok = await cli(['verify', exportFile, '--renewal', bundleFile, ...pinnedOld]);
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^verifying the renewal of export /);
    expect(ok.stdout).toMatch(/ok\s+evidence: statement/);
    expect(ok.stdout).toMatch(/ok\s+subject/);
    expect(ok.stdout).toMatch(/ok\s+ledger-keys/);
    expect(ok.stdout).toMatch(/verified: 2 units, .*; renewed: covered by checkpoint \d+ of \d{4}-\d\d-\d\d, ML-DSA-44 \+ Ed25519\n/);
    const json = jsonOf(await cli(['verify', exportFile, '--renewal', bundleFile, ...pinnedOld, '--json']));
    expect(json.ok).toBe(true);
    const report = json.report as ExportRenewalReport;
    expect(report.evidence.units).toBe(2);
    expect(report.renewed.signatures).toEqual(['Ed25519', 'ML-DSA-44']);
    expect(report.renewed.size).toBeGreaterThan(report.evidence.checkpoint.size);
    // The export as made: checkpoint and statement by the first keys, both algorithms (a hybrid ledger from the start).
    expect(report.evidence.statementSignatures).toEqual(['Ed25519', 'ML-DSA-44']);

    // @flashtrail/verify's own command (packages/verify/dist) runs the same command module: the same verdict.
    const pkg = await run(process.execPath, [join(ROOT, 'packages', 'verify', 'dist', 'flashtrail-verify.js'), exportFile, '--renewal', bundleFile, ...pinnedOld, '--json'], { maxBuffer: 1 << 26 });
    expect(jsonOf(pkg).report?.renewed).toEqual(report.renewed);

    // A genuine bundle, another genuine export: not its subject.
    const other = jsonOf(await cli(['verify', laterExport, '--renewal', bundleFile, ...pinnedOld, '--json']));
    expect(other.error).toMatchObject({ code: 'RENEWAL_SUBJECT_MISMATCH', step: 'subject', location: { file: bundleFile, field: 'subject.sha256' } });
    const otherText = await cli(['verify', laterExport, '--renewal', bundleFile, ...pinnedOld]);
    expect(otherText.code).toBe(1);
    expect(otherText.stdout).toMatch(/RENEWAL_SUBJECT_MISMATCH/);
    expect(otherText.stderr).not.toMatch(/\n\s+at /);

    const tampered = (name: string, edit: (b: { -readonly [K in keyof ExportRenewalBundle]: ExportRenewalBundle[K] }) => void) => {
      const b = JSON.parse(JSON.stringify(bundle)) as { -readonly [K in keyof ExportRenewalBundle]: ExportRenewalBundle[K] };
      edit(b);
      const file = join(work, name);
      writeFileSync(file, JSON.stringify(b));
      return file;
    };
    const forged = jsonOf(await cli(['verify', exportFile, '--renewal', tampered('forged.json', (b) => void (b.consistency = [toBase64(new Uint8Array(32).fill(9)), ...b.consistency.slice(1)])), ...pinnedOld, '--json']));
    expect(forged.error).toMatchObject({ code: 'CONSISTENCY_PROOF_ERROR', step: 'consistency' });
    const noRotations = jsonOf(await cli(['verify', exportFile, '--renewal', tampered('no-rotations.json', (b) => void (b.rotations = [])), ...pinnedOld, '--json']));
    expect(noRotations.error).toMatchObject({ code: 'CHECKPOINT_SIGNATURE_ERROR', step: 'renewal checkpoint' });

    // Pinned to the new keys, the old export's own checkpoint is by a key they do not lead to: keep the old keys.
    const pinnedNew = jsonOf(await cli(['verify', exportFile, '--renewal', bundleFile, '--ledger-key', newKey, '--ledger-pq-key', newPq, '--json']));
    expect(pinnedNew.error?.code).toBe('CHECKPOINT_SIGNATURE_ERROR');
    expect(pinnedNew.error?.step).toMatch(/^evidence: /);
    expect(pinnedNew.error?.location.file).toBe(exportFile);

    // A v3 bundle verified alone, and --renewal without an ML-DSA-44 key: refused, saying what to do.
    const alone = jsonOf(await cli(['verify', bundleFile, ...pinnedOld, '--json']));
    expect(alone.error).toMatchObject({ code: 'FORMAT_ERROR', step: 'format' });
    // --renewal is for exports, and the export's signature policy is not the user's to choose (it is classical).
    for (const args of [[bundleFile, '--renewal', bundleFile], [exportFile, '--renewal', bundleFile, '--signatures', 'hybrid']]) {
      const usage = await cli(['verify', ...args, ...pinnedOld]);
      expect(usage.code, args.join(' ')).toBe(2);
      expect(usage.stderr).toMatch(/--renewal/);
    }
    const noPq = await cli(['verify', exportFile, '--renewal', bundleFile, '--ledger-key', oldKey]);
    expect(noPq.code).not.toBe(0);
    expect(noPq.stderr).toMatch(/--ledger-pq-key/);
    expect(noPq.stderr).not.toMatch(/\n\s+at /);

    if (chromiumSkip) return;
    // The page flashtrail export wrote beside the export, offline: the same verdicts as the CLI.
    const pageFile = join(work, 'verify.html');
    const keys = { ledgerKey: oldKey, pqKey: oldPq };
    const browser = await startBrowser();
    try {
      const pageOk = await pageVerdict(browser, pageFile, exportFile, bundleFile, keys);
      expect(pageOk.state, pageOk.text).toBe('verified');
      expect(pageOk.text).toMatch(/renewed: covered by checkpoint \d+ of \d{4}-\d\d-\d\d, ML-DSA-44 \+ Ed25519/);
      for (const step of ['format', 'evidence: units', 'evidence: statement', 'subject', 'renewal checkpoint', 'consistency']) expect(pageOk.board.find((b) => b.step === step)?.state, step).toBe('ok');
      expect((await pageVerdict(browser, pageFile, exportFile, bundleFile, keys, true)).state).toBe('verified');
      const pageOther = await pageVerdict(browser, pageFile, laterExport, bundleFile, keys);
      expect([pageOther.state, pageOther.code, pageOther.step]).toEqual(['failed', 'RENEWAL_SUBJECT_MISMATCH', 'subject']);
      const pageForged = await pageVerdict(browser, pageFile, exportFile, join(work, 'forged.json'), keys);
      expect([pageForged.state, pageForged.code]).toEqual(['failed', 'CONSISTENCY_PROOF_ERROR']);
      expect(browser.refused).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 300_000);
});
