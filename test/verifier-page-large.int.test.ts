/**
 * The offline page on a large export, in headless Chromium from file:// with the network refused: a 5,000-unit
 * export (30,005 events, hybrid-signed checkpoint, verified under the hybrid policy with the pinned ML-DSA-44
 * key) shows the pipeline's steps and a progress bar of bytes, units and events moving while it runs, well
 * before the verdict; a copy with one event changed in unit 2,000 shows the failing step with the code, unit and
 * line flashtrail verify reports, after progress was shown. The progress is sampled in the page by a
 * MutationObserver, so what is asserted is what a user saw, not what the script meant to show.
 */
import { createReadStream, createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumSkip, screenshotPath, startBrowser, type Browser } from './helpers/browser.ts';
import { fillLedger } from '../bench/fixtures.ts';
import { startLedgerServer } from '../src/server/main.ts';
import { selectUnits, writeExport } from '../src/evidence/export.ts';
import { builtPagePath, VERIFIER_PAGE_NAME } from '../src/web/pages.ts';
import { verifyExportFile } from '../src/native/export-verifier.ts';
import { parseMlDsaVerifierKey, parseVerifierKey, VerificationError } from '../src/verify/index.ts';
import { canonicalize } from '../src/crypto/jcs.ts';
import { fromBase64, toBase64 } from '../src/crypto/encoding.ts';

// Large enough for many progress updates (a 50 MB file), small enough for the suite on a 2-core machine.
const UNITS = 5_000;
/** fillLedger writes 6 events per unit after 5 administrative records. */
const EVENTS = UNITS * 6 + 5;

if (chromiumSkip) console.warn(`large-export page test skipped: ${chromiumSkip}`);

let dir: string;
let browser: Browser;
let exportFile: string;
let tamperedFile: string;
let tamperedSerial: string;
let ledgerKey: string;
let pqKey: string;

beforeAll(async () => {
  if (chromiumSkip) return;
  dir = mkdtempSync(join(tmpdir(), 'flashtrail-page-large-'));
  const filled = await fillLedger(join(dir, 'ledger'), EVENTS);
  const ledger = await startLedgerServer({ ...filled.config, port: 0, logLevel: 'error' }, pino({ level: 'error' }));
  try {
    ledgerKey = ledger.identity.verifierKey;
    pqKey = ledger.identity.mlDsaVerifierKey ?? '';
    const deps = { ledger: ledger.ledger, log: ledger.log, checkpointer: ledger.checkpointer, projections: ledger.projections, ledgerKey: ledger.identity.key, mlDsaKey: ledger.identity.mlDsaKey, origin: ledger.identity.origin, clock: () => new Date() };
    await ledger.log.catchUp();
    const serials = await selectUnits(deps, { batchId: filled.batchId });
    exportFile = join(dir, 'large.ndjson');
    const out = createWriteStream(exportFile);
    for await (const chunk of writeExport(deps, { batchId: filled.batchId }, serials)) if (!out.write(chunk)) await once(out, 'drain');
    out.end();
    await once(out, 'finish');
  } finally {
    await ledger.close();
  }
  // The copy: one digit of one signed event of the 2,000th unit record changed (its signature kept).
  tamperedFile = join(dir, 'large-tampered.ndjson');
  const copy = createWriteStream(tamperedFile);
  let units = 0;
  for await (const line of createInterface({ input: createReadStream(exportFile), crlfDelay: Infinity })) {
    let text = line;
    if (line.startsWith('{"batchId":') && ++units === 2_000) {
      const record = JSON.parse(line) as { serial: string; events: { envelope: { payload: string } }[] };
      const envelope = (record.events[1] as { envelope: { payload: string } }).envelope;
      const payload = fromBase64(envelope.payload);
      const at = new TextDecoder().decode(payload).indexOf('"occurredAt":"') + '"occurredAt":"'.length + 22;
      payload[at] = (payload[at] as number) ^ 0x01;
      envelope.payload = toBase64(payload);
      tamperedSerial = record.serial;
      text = canonicalize(record);
    }
    if (!copy.write(text + '\n')) await once(copy, 'drain');
  }
  copy.end();
  await once(copy, 'finish');
  browser = await startBrowser();
}, 900_000);

afterAll(async () => {
  await browser?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Sample {
  t: number;
  units: number;
  events: number;
  percent: number;
  /** state of each step, in order: "format:ok" … */
  steps: string[];
  verdict: string;
}

/** Drops the file on a fresh page with both keys pinned, sampling what the page shows until the verdict. */
async function watch(file: string): Promise<{ samples: Sample[]; verdict: Record<string, string>; tVerdict: number }> {
  const page = await browser.newPage();
  await page.goto(pathToFileURL(builtPagePath(VERIFIER_PAGE_NAME)).href);
  await page.getByLabel(/Ledger verifier key/).fill(ledgerKey);
  await page.getByLabel(/ML-DSA-44 verifier key/).fill(pqKey);
  await page.evaluate(() => {
    const w = window as unknown as { samples: Sample[] };
    w.samples = [];
    const sample = () => {
      const text = document.getElementById('progress-text') as HTMLElement;
      const progress = document.getElementById('progress') as HTMLProgressElement;
      w.samples.push({
        t: performance.now(),
        units: Number(text.dataset['units'] ?? 0),
        events: Number(text.dataset['events'] ?? 0),
        percent: Math.round((progress.value / progress.max) * 100),
        steps: Array.from(document.querySelectorAll<HTMLElement>('#steps li'), (li) => `${li.dataset['step'] ?? ''}:${li.dataset['state'] ?? ''}`),
        verdict: (document.getElementById('verdict') as HTMLElement).dataset['state'] ?? '',
      });
    };
    new MutationObserver(sample).observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
  });
  await page.locator('#file').setInputFiles(file);
  await page.locator('#verdict[data-state="verified"], #verdict[data-state="failed"], #verdict[data-state="error"]').waitFor({ timeout: 600_000 });
  const result = await page.evaluate(() => {
    const w = window as unknown as { samples: Sample[] };
    const v = document.getElementById('verdict') as HTMLElement;
    const tVerdict = w.samples.find((s) => s.verdict === 'verified' || s.verdict === 'failed' || s.verdict === 'error')?.t ?? Infinity;
    return { samples: w.samples, verdict: { ...v.dataset, text: v.textContent ?? '' } as Record<string, string>, tVerdict };
  });
  await page.screenshot({ path: screenshotPath(file === exportFile ? 'verifier-page-large-verified' : 'verifier-page-large-tampered'), fullPage: true });
  await page.close();
  return result;
}

/** The samples taken before the verdict in which units had been verified, one per distinct count. */
function progressBefore(samples: Sample[], tVerdict: number): Sample[] {
  const seen = new Set<number>();
  return samples.filter((s) => s.t < tVerdict && s.units > 0 && !seen.has(s.units) && seen.add(s.units));
}

describe.skipIf(chromiumSkip !== null)('the offline page on a 5,000-unit export, in headless Chromium', () => {
  it('shows the steps and the progress of bytes, units and events as it verifies, then the verdict with both signature algorithms', async () => {
    const { samples, verdict, tVerdict } = await watch(exportFile);
    expect(verdict['state'], verdict['text']).toBe('verified');
    expect(verdict['signatures']).toBe('Ed25519 ML-DSA-44');
    const moving = progressBefore(samples, tVerdict);
    // Many distinct updates, rising, while the units step was running and before any verdict.
    expect(moving.length).toBeGreaterThanOrEqual(5);
    for (let i = 1; i < moving.length; i++) expect((moving[i] as Sample).units).toBeGreaterThan((moving[i - 1] as Sample).units);
    expect(moving.some((s) => s.units < UNITS / 2)).toBe(true);
    expect(moving.every((s) => s.steps.includes('units:running') && s.steps.includes('keys:ok') && s.steps.includes('statement:pending'))).toBe(true);
    expect(moving.some((s) => s.percent > 0 && s.percent < 100)).toBe(true);
    const last = samples[samples.length - 1] as Sample;
    expect([last.units, last.events]).toEqual([UNITS, EVENTS - 5]);
    expect(last.steps).toEqual(['format:ok', 'checkpoint:ok', 'keys:ok', 'history:ok', 'units:ok', 'statement:ok']);
  }, 900_000);

  it('a copy with one event changed in unit 2,000 shows the failing step with the code, unit and line flashtrail verify gives, after progress was shown', async () => {
    let cli: VerificationError | null = null;
    try {
      await verifyExportFile(tamperedFile, parseVerifierKey(ledgerKey), { signatures: { mlDsaKey: parseMlDsaVerifierKey(pqKey) } });
    } catch (error) {
      if (!(error instanceof VerificationError)) throw error;
      cli = error;
    }
    expect(cli?.location.serial).toBe(tamperedSerial);
    const { samples, verdict, tVerdict } = await watch(tamperedFile);
    expect({ state: verdict['state'], code: verdict['code'], step: verdict['step'], serial: verdict['serial'], line: verdict['line'] }).toEqual({ state: 'failed', code: cli?.code, step: cli?.step, serial: tamperedSerial, line: String(cli?.location.line) });
    expect(progressBefore(samples, tVerdict).length).toBeGreaterThanOrEqual(2);
    const last = samples[samples.length - 1] as Sample;
    expect(last.steps).toEqual(['format:ok', 'checkpoint:ok', 'keys:ok', 'history:ok', 'units:failed', 'statement:not-run']);
  }, 900_000);
});
