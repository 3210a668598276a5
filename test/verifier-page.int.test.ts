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
import { brokenPqCheckpoints, lastEventDropped, makeEvidence, tamperedExports, tamperedProvenance, type Evidence } from './helpers/evidence.ts';
import { verifyExportFile } from '../src/native/export-verifier.ts';
import { parseMlDsaVerifierKey, parseVerifierKey, verifyProvenance, VerificationError, type SignaturePolicy } from '../src/verify/index.ts';
import { nativeCrypto } from '../src/native/crypto.ts';
import { FORMAT_VECTOR_DIR, manifest } from './helpers/format-vectors.ts';

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
  signatures?: string;
  policy?: string;
  text: string;
  steps: string[];
  /** The live step list at the end: name, state and code of each step. */
  board: { step: string; state: string; code?: string }[];
}

async function dropOnPage(page: Page, file: string, key: string, pq?: { key?: string; policy?: 'hybrid' | 'classical'; mapKey?: string }): Promise<PageVerdict> {
  await page.goto(pageUrl);
  await page.getByLabel(/Ledger verifier key/).fill(key);
  if (pq?.mapKey) await page.getByLabel(/Index log verifier key/).fill(pq.mapKey);
  if (pq?.key) await page.getByLabel(/ML-DSA-44 verifier key/).fill(pq.key);
  if (pq?.policy) await page.getByLabel('Signature policy').selectOption(pq.policy);
  await page.locator('#file').setInputFiles(file);
  await page.locator('#verdict[data-state="verified"], #verdict[data-state="failed"], #verdict[data-state="error"]').waitFor({ timeout: 120_000 });
  return page.evaluate(() => {
    const v = document.getElementById('verdict') as HTMLElement;
    const board = Array.from(document.querySelectorAll<HTMLElement>('#steps li'), (li) => ({ step: li.dataset['step'] ?? '', state: li.dataset['state'] ?? '', ...(li.dataset['code'] ? { code: li.dataset['code'] } : {}) }));
    return { ...v.dataset, state: v.dataset['state'] ?? '', text: v.textContent ?? '', steps: Array.from(document.querySelectorAll('#output li'), (li) => li.textContent ?? ''), board } as PageVerdict;
  });
}

async function cliVerdict(file: string, signatures?: SignaturePolicy, mapKey?: string): Promise<VerificationError | null> {
  const map = mapKey ? { mapKey: parseVerifierKey(mapKey) } : {};
  try {
    if (file.endsWith('.json')) verifyProvenance(JSON.parse(readFileSync(file, 'utf8')), parseVerifierKey(evidence.verifierKey), nativeCrypto, { ...(signatures ?? {}), ...map });
    else await verifyExportFile(file, parseVerifierKey(evidence.verifierKey), { workers: 2, ...(signatures ? { signatures } : {}), ...map });
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
    // The verifier is in the file once: the Web Workers run the page's own script (src/web/verifier/main.ts).
    expect(html.split("is not a c2sp.org/tlog-proof@v1").length - 1).toBe(1);
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
    // The live step list ends with every step of the pipeline passed, in its order.
    expect(v.board).toEqual(cli.steps.map((s) => ({ step: s.step, state: 'ok' })));
    expect(v.signatures).toBe('Ed25519');
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
      // The step list shows the failing step with its code; the steps before it passed, the ones after did not run.
      const failed = v.board.findIndex((b) => b.state === 'failed');
      expect(v.board[failed]?.code, t.name).toBe(cli?.code);
      expect(v.board.slice(0, failed).every((b) => b.state === 'ok' || b.state === 'not-run'), t.name).toBe(true);
      expect(v.board.slice(failed + 1).every((b) => b.state === 'not-run'), t.name).toBe(true);
    }
    await page.close();
  }, 300_000);

  it("takes the index log key: a v4 export is proved complete, and one with a unit's last event dropped is HISTORY_INCOMPLETE as flashtrail verify --map-key says", async () => {
    const page = await browser.newPage();
    const genuine = await dropOnPage(page, evidence.exportFile, evidence.verifierKey, { mapKey: evidence.mapVerifierKey });
    expect(genuine.state).toBe('verified');
    expect(genuine.board.find((b) => b.step === 'history')?.state).toBe('ok');
    expect(genuine.steps.some((l) => /^ {2}complete: every unit's events are all its events as of checkpoint size \d+/.test(l))).toBe(true);
    const unpinned = await dropOnPage(page, evidence.exportFile, evidence.verifierKey);
    expect(unpinned.steps.some((l) => /history +not checked: pin the index log key/.test(l))).toBe(true);
    const dropped = lastEventDropped(evidence);
    const [v, cli] = await Promise.all([dropOnPage(page, dropped.file, evidence.verifierKey, { mapKey: evidence.mapVerifierKey }), cliVerdict(dropped.file, undefined, evidence.mapVerifierKey)]);
    await page.screenshot({ path: screenshotPath('verifier-page-history-incomplete'), fullPage: true });
    expect(cli?.code).toBe('HISTORY_INCOMPLETE');
    expect({ state: v.state, code: v.code, step: v.step, serial: v.serial, line: v.line }).toEqual({ state: 'failed', code: cli?.code, step: cli?.step, serial: dropped.serial, line: String(cli?.location.line) });
    expect(v.board.find((b) => b.state === 'failed')?.step).toBe('units');
    await page.close();
  }, 300_000);

  it('takes the index log key for a v5 export by firmware: complete for the firmware, and a unit record removed is EXPORT_INCOMPLETE naming it, as flashtrail verify says', async () => {
    const keys = { ledger: manifest.ledgerVerifierKey, map: manifest.mapVerifierKey };
    const page = await browser.newPage();
    const genuine = await dropOnPage(page, join(FORMAT_VECTOR_DIR, 'v5/genuine.export.ndjson'), keys.ledger, { mapKey: keys.map });
    expect(genuine.state).toBe('verified');
    // Planned from the header's format before the first step ran, so in their place on the board, not appended.
    expect(genuine.board.map((b) => b.step)).toEqual(['format', 'checkpoint', 'keys', 'history', 'firmware', 'units', 'completeness', 'statement']);
    expect(genuine.board.filter((b) => b.step === 'firmware' || b.step === 'completeness').map((b) => b.state)).toEqual(['ok', 'ok']);
    expect(genuine.steps.some((l) => /^ {2}complete: the export holds every unit carrying firmware [0-9a-f]{64} \(2 now, 0 formerly\) as of checkpoint \d+/.test(l))).toBe(true);
    const removed = join(FORMAT_VECTOR_DIR, 'v5/export.unit-removed.ndjson');
    const v = await dropOnPage(page, removed, keys.ledger, { mapKey: keys.map });
    let cli: VerificationError | null = null;
    await verifyExportFile(removed, parseVerifierKey(keys.ledger), { workers: 2, mapKey: parseVerifierKey(keys.map) }).catch((e: unknown) => void (cli = e instanceof VerificationError ? e : null));
    const expected = cli as VerificationError | null;
    expect(expected?.code).toBe('EXPORT_INCOMPLETE');
    expect({ state: v.state, code: v.code, step: v.step, serial: v.serial, line: v.line }).toEqual({ state: 'failed', code: 'EXPORT_INCOMPLETE', step: 'completeness', serial: 'SN-0002', line: String(expected?.location.line) });
    await page.close();
  }, 300_000);

  it('takes the pinned ML-DSA-44 key and a policy: hybrid verifies both signatures, and a checkpoint whose ML-DSA-44 line is removed or corrupted is refused as flashtrail verify refuses it', async () => {
    const page = await browser.newPage();
    const mlDsaKey = parseMlDsaVerifierKey(evidence.pqVerifierKey);
    for (const file of [evidence.exportFile, evidence.provenanceFile]) {
      const v = await dropOnPage(page, file, evidence.verifierKey, { key: evidence.pqVerifierKey });
      expect({ state: v.state, signatures: v.signatures, policy: v.policy }, file).toEqual({ state: 'verified', signatures: 'Ed25519 ML-DSA-44', policy: 'hybrid' });
      expect(v.text).toContain('Ed25519 + ML-DSA-44 (hybrid policy)');
      expect(v.steps.find((l) => /^ {2}ok {2}checkpoint/.test(l)), file).toMatch(/with Ed25519 \+ ML-DSA-44:/);
    }
    await page.screenshot({ path: screenshotPath('verifier-page-hybrid-verified'), fullPage: true });
    for (const c of brokenPqCheckpoints(evidence)) {
      for (const file of [c.exportFile, c.provenanceFile]) {
        for (const policy of ['hybrid', 'classical'] as const) {
          const [v, cli] = await Promise.all([dropOnPage(page, file, evidence.verifierKey, { key: evidence.pqVerifierKey, policy }), cliVerdict(file, { mlDsaKey, require: policy })]);
          const what = `${c.name} ${file} ${policy}`;
          if (cli === null) {
            // Classical accepts a checkpoint without the ML-DSA-44 line, and says Ed25519 alone verified.
            expect({ state: v.state, signatures: v.signatures, policy: v.policy }, what).toEqual({ state: 'verified', signatures: 'Ed25519', policy: 'classical' });
            continue;
          }
          expect({ state: v.state, code: v.code, step: v.step, line: v.line }, what).toEqual({ state: 'failed', code: cli.code, step: cli.step, line: cli.location.line === undefined ? undefined : String(cli.location.line) });
          // Classical on the export without its ML-DSA-44 line: the checkpoint passes, and the edited line 2 no
          // longer hashes to the signed statement's content digest (CONTENT_DIGEST_ERROR), for both verifiers.
          if (policy === 'classical' && c.name === 'pq-line-removed') continue;
          expect(cli.code, what).toBe('CHECKPOINT_PQ_SIGNATURE_ERROR');
          expect(v.board.find((b) => b.state === 'failed'), what).toEqual({ step: 'checkpoint', state: 'failed', code: 'CHECKPOINT_PQ_SIGNATURE_ERROR' });
        }
      }
      await page.screenshot({ path: screenshotPath(`verifier-page-${c.name}`), fullPage: true });
    }
    // Hybrid without the ML-DSA-44 key is a refusal of the input, as `flashtrail verify --signatures hybrid` is.
    const noKey = await dropOnPage(page, evidence.exportFile, evidence.verifierKey, { policy: 'hybrid' });
    expect({ state: noKey.state, code: noKey.code }).toEqual({ state: 'failed', code: 'LEDGER_KEY_ERROR' });
    const badKey = await dropOnPage(page, evidence.exportFile, evidence.verifierKey, { key: 'not-a-key' });
    expect({ state: badKey.state, code: badKey.code, step: badKey.step }).toEqual({ state: 'failed', code: 'LEDGER_KEY_ERROR', step: 'input' });
    expect(browser.refused).toEqual([]);
    await page.close();
  }, 300_000);

  it('is usable at 1366×768 with the keyboard alone: labelled fields in order, a live region, the verdict focused and in view, text contrast at least WCAG AA', async () => {
    const page = await browser.newPage();
    await page.goto(pageUrl);
    // Tab order: the three keys, the policy, an export's renewal bundle, the file chooser; each reached with Tab and filled or chosen from the keyboard.
    const order: string[] = [];
    for (let i = 0; i < 6; i++) {
      await page.keyboard.press('Tab');
      order.push(await page.evaluate(() => document.activeElement?.id ?? ''));
    }
    expect(order).toEqual(['ledger-key', 'ledger-pq-key', 'map-key', 'signatures', 'renewal', 'file']);
    await page.locator('#ledger-key').focus();
    await page.keyboard.insertText(evidence.verifierKey);
    await page.keyboard.press('Tab');
    await page.keyboard.insertText(evidence.pqVerifierKey);
    await page.keyboard.press('Tab');
    await page.keyboard.insertText(evidence.mapVerifierKey);
    await page.keyboard.press('Tab');
    await page.keyboard.press('ArrowDown');
    expect(await page.locator('#signatures').inputValue()).toBe('hybrid');
    for (const id of ['ledger-key', 'ledger-pq-key', 'map-key', 'signatures', 'renewal', 'file', 'progress']) {
      expect(await page.locator(`label[for="${id}"]`).count(), id).toBe(1);
    }
    expect(await page.locator('[role="status"][aria-live="polite"]').count()).toBe(1);
    await page.locator('#file').setInputFiles(evidence.exportFile);
    await page.locator('#verdict[data-state="verified"]').waitFor({ timeout: 120_000 });
    await page.screenshot({ path: screenshotPath('verifier-page-1366x768') });
    const layout = await page.evaluate(() => {
      const verdict = document.getElementById('verdict') as HTMLElement;
      const box = verdict.getBoundingClientRect();
      return { focused: document.activeElement === verdict, inView: box.top >= 0 && box.bottom <= innerHeight, width: innerWidth, scrollWidth: document.documentElement.scrollWidth, announced: document.getElementById('announce')?.textContent ?? '' };
    });
    expect(layout).toMatchObject({ focused: true, inView: true, width: 1366 });
    expect(layout.scrollWidth).toBeLessThanOrEqual(1366);
    expect(layout.announced).toMatch(/^step statement passed/);
    // Every text of the page against the background it is drawn on: 4.5:1 at least (WCAG 2.1 AA, normal text).
    const worst = await page.evaluate(() => {
      const rgb = (c: string) => (c.match(/[\d.]+/g) ?? []).slice(0, 4).map(Number);
      const lum = ([r, g, b]: number[]) => {
        const f = (v: number) => ((v as number) / 255 <= 0.03928 ? (v as number) / 255 / 12.92 : (((v as number) / 255 + 0.055) / 1.055) ** 2.4);
        return 0.2126 * f(r as number) + 0.7152 * f(g as number) + 0.0722 * f(b as number);
      };
      const background = (el: Element | null): number[] => {
        for (let e = el; e; e = e.parentElement) {
          const c = rgb(getComputedStyle(e).backgroundColor);
          if (c.length === 3 || (c[3] ?? 1) > 0) return c;
        }
        return [255, 255, 255];
      };
      let min = { ratio: 21, text: '' };
      const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
      for (let n = walker.nextNode(); n; n = walker.nextNode()) {
        const el = n.parentElement;
        if (!el || !n.textContent?.trim() || el.closest('[hidden], .visually-hidden, script, style, option')) continue;
        const [a, b] = [lum(rgb(getComputedStyle(el).color)), lum(background(el))];
        const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
        if (ratio < min.ratio) min = { ratio, text: n.textContent.trim().slice(0, 40) };
      }
      return min;
    });
    expect(worst.ratio, worst.text).toBeGreaterThanOrEqual(4.5);
    await page.close();
  });

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
