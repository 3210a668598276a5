/**
 * The offline verifier page in a real browser: the page `flashtrail export` wrote next to a real export,
 * opened from file:// in headless Chromium with every network request refused, verifies the export and a
 * provenance document, and for each tampered copy names the failing step, unit and code exactly as
 * `flashtrail verify` does (its export pipeline, run here in-process on the native backend).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumSkip, screenshotPath, startBrowser, type Browser } from './helpers/browser.ts';
import { makeEvidence, tamperedExports, tamperedProvenance, type Evidence } from './helpers/evidence.ts';
import { verifyExportFile } from '../src/native/export-verifier.ts';
import { parseVerifierKey, VerificationError } from '../src/verify/index.ts';

if (chromiumSkip) console.warn(`offline verifier page tests skipped: ${chromiumSkip}`);

let evidence: Evidence;
let browser: Browser;
let pageUrl: string;

beforeAll(async () => {
  if (chromiumSkip) return;
  evidence = await makeEvidence(30, 21);
  browser = await startBrowser();
  pageUrl = pathToFileURL(join(evidence.dir, 'verify.html')).href;
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await evidence?.stop();
});

interface PageVerdict {
  state: string;
  code?: string;
  step?: string;
  serial?: string;
  line?: string;
  text: string;
  steps: string[];
}

async function dropOnPage(page: Page, file: string, key: string): Promise<PageVerdict> {
  await page.goto(pageUrl);
  await page.getByLabel(/Ledger verifier key/).fill(key);
  await page.locator('#file').setInputFiles(file);
  await page.locator('#verdict[data-state="verified"], #verdict[data-state="failed"], #verdict[data-state="error"]').waitFor({ timeout: 120_000 });
  return page.evaluate(() => {
    const v = document.getElementById('verdict') as HTMLElement;
    return { ...v.dataset, state: v.dataset['state'] ?? '', text: v.textContent ?? '', steps: Array.from(document.querySelectorAll('#output li'), (li) => li.textContent ?? '') } as PageVerdict;
  });
}

async function cliVerdict(file: string): Promise<VerificationError | null> {
  try {
    await verifyExportFile(file, parseVerifierKey(evidence.verifierKey), { workers: 2 });
    return null;
  } catch (error) {
    if (error instanceof VerificationError) return error;
    throw error;
  }
}

describe.skipIf(chromiumSkip !== null)('the offline verifier page, from file:// in headless Chromium, with no network', () => {
  it('flashtrail export wrote the page next to the export: one self-contained file', () => {
    const html = readFileSync(join(evidence.dir, 'verify.html'), 'utf8');
    expect(existsSync(evidence.exportFile)).toBe(true);
    expect(html).toMatch(/<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'sha256-/);
    expect(html).toContain("connect-src 'none'");
    // Nothing to fetch: no external script, style, image or font.
    expect(html).not.toMatch(/<(script|link|img)[^>]+(src|href)=/i);
  });

  it('verifies a real export, step by step with the CLI\'s step names, and asks the network for nothing', async () => {
    const page = await browser.newPage();
    const v = await dropOnPage(page, evidence.exportFile, evidence.verifierKey);
    await page.screenshot({ path: screenshotPath('verifier-page-export-verified'), fullPage: true });
    expect(v.state, v.text + '\n' + v.steps.join('\n')).toBe('verified');
    expect(v.steps[0]).toBe('verifying export batch.ndjson');
    const names = v.steps.filter((l) => l.startsWith('  ok  ')).map((l) => l.slice(6).trim().split(/\s+/)[0]);
    const cli = await verifyExportFile(evidence.exportFile, parseVerifierKey(evidence.verifierKey), { workers: 2 });
    expect(names).toEqual(cli.steps.map((s) => s.step));
    expect(v.steps.find((l) => l.startsWith('verified: '))).toMatch(new RegExp(`^verified: ${cli.units} units, ${cli.events} events`));
    expect(await page.locator('#progress').evaluate((p: HTMLProgressElement) => p.value === p.max)).toBe(true);
    expect(browser.refused).toEqual([]);
    await page.close();
  });

  it('verifies a real provenance document', async () => {
    const page = await browser.newPage();
    const v = await dropOnPage(page, evidence.provenanceFile, evidence.verifierKey);
    await page.screenshot({ path: screenshotPath('verifier-page-provenance-verified'), fullPage: true });
    expect(v.state, v.steps.join('\n')).toBe('verified');
    expect(v.steps[0]).toBe(`verifying provenance of unit ${evidence.serial} (${evidence.serial}.json)`);
    await page.close();
  });

  it('names the failing step, unit and code of each tampered export as flashtrail verify does', async () => {
    const page = await browser.newPage();
    for (const t of tamperedExports(evidence)) {
      const [v, cli] = await Promise.all([dropOnPage(page, t.file, evidence.verifierKey), cliVerdict(t.file)]);
      await page.screenshot({ path: screenshotPath(`verifier-page-tampered-${t.name}`), fullPage: true });
      expect(cli, t.name).not.toBeNull();
      expect({ state: v.state, code: v.code, step: v.step, serial: v.serial, line: v.line }, t.name).toEqual({
        state: 'failed',
        code: cli?.code,
        step: cli?.step,
        serial: cli?.location.serial,
        line: cli?.location.line === undefined ? undefined : String(cli.location.line),
      });
      expect(v.steps[v.steps.length - 1], t.name).toMatch(new RegExp(`^ {2}FAIL ${cli?.step} +${cli?.code}: `));
    }
    await page.close();
  }, 300_000);

  it('refuses a tampered provenance document and a key that is not one, in one line each', async () => {
    const page = await browser.newPage();
    const doc = await dropOnPage(page, tamperedProvenance(evidence), evidence.verifierKey);
    expect(doc.state).toBe('failed');
    expect(doc.code).toMatch(/^[A-Z_]+$/);
    const badKey = await dropOnPage(page, evidence.exportFile, 'not-a-key');
    await page.screenshot({ path: screenshotPath('verifier-page-bad-key'), fullPage: true });
    expect({ state: badKey.state, code: badKey.code, step: badKey.step }).toEqual({ state: 'failed', code: 'LEDGER_KEY_ERROR', step: 'input' });
    expect(browser.refused).toEqual([]);
    await page.close();
  });

  it('the ledger serves the same page at GET /verify.html, without a token', async () => {
    const response = await fetch(`${evidence.ledger.url}/verify.html`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(Buffer.from(await response.arrayBuffer()).equals(readFileSync(join(evidence.dir, 'verify.html')))).toBe(true);
  });
});
