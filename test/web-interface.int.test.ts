/**
 * The ledger's web interface in headless Chromium at 1366×768, against a real ledger on loopback with a
 * simulated batch: token login (role-aware), a unit found by serial, MAC or chip id with its timeline verified in the browser
 * against the pinned key (and refused against another key), "units carrying firmware X", and the batch
 * dashboard, whose figures must equal what `flashtrail simulate` injected (its ground truth, not the ledger's
 * own projections), updated live when a unit is flashed while the page is open. Requests anywhere but the
 * ledger are refused.
 */
import { readFileSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumSkip, screenshotPath, startBrowser, type Browser } from './helpers/browser.ts';
import { makeEvidence, type Evidence } from './helpers/evidence.ts';
import { formatVerifierKey } from '../src/tlog/note.ts';
import { newSigner } from '../src/crypto/ed25519.ts';
import { newMlDsaSigner } from '../src/crypto/ml-dsa.ts';
import { formatMlDsaVerifierKey } from '../src/tlog/ml-dsa-note.ts';
import { SimulatedStation } from '../src/sim/simulated-station.ts';
import { LedgerClient } from '../src/client/ledger-client.ts';
import { EventSigner } from '../src/event/signer.ts';

if (chromiumSkip) console.warn(`web interface tests skipped: ${chromiumSkip}`);

let evidence: Evidence;
let browser: Browser;
let page: Page;

const pct = (x: number) => `${(x * 100).toFixed(1)} %`;

beforeAll(async () => {
  if (chromiumSkip) return;
  evidence = await makeEvidence(40, 33);
  browser = await startBrowser([evidence.ledger.url]);
  page = await browser.newPage();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await evidence?.stop();
});

async function logIn(token: string, key: string, pqKey?: string): Promise<void> {
  await page.goto(`${evidence.ledger.url}/ui`);
  const logout = page.locator('#logout');
  if (await logout.count()) await logout.click();
  await page.getByLabel('Bearer token').fill(token);
  await page.getByLabel(/Ledger verifier key/).fill(key);
  if (pqKey) await page.getByLabel(/ML-DSA-44 verifier key/).fill(pqKey);
  await page.getByRole('button', { name: 'Log in' }).click();
}

const text = (selector: string) => page.locator(selector).innerText();

describe.skipIf(chromiumSkip !== null)('the web interface, in headless Chromium at 1366×768', () => {
  it('the ledger\'s address leads to the interface; it refuses an unknown token, and shows a station token no pages', async () => {
    await page.goto(`${evidence.ledger.url}/`);
    expect(new URL(page.url()).pathname).toBe('/ui');
    await page.screenshot({ path: screenshotPath('web-login') });
    await logIn('x'.repeat(32), evidence.verifierKey);
    await expect.poll(() => text('#login-error')).toMatch(/not known/);
    await logIn(evidence.ledger.tokens.station1, evidence.verifierKey);
    await page.locator('#no-pages').waitFor();
    expect(await text('#nav')).toMatch(/\(station\)/);
    expect(await page.locator('#nav a').count()).toBe(0);
  });

  it('an auditor finds a unit by serial and sees its timeline verified in the browser against the pinned key', async () => {
    await logIn(evidence.ledger.tokens.auditor, evidence.verifierKey);
    await page.getByLabel('Serial number, MAC or chip id').fill(evidence.serial);
    await page.getByRole('button', { name: 'Show' }).click();
    const verdict = page.locator('#timeline-verdict');
    await verdict.waitFor({ timeout: 60_000 });
    await page.screenshot({ path: screenshotPath('web-unit-timeline'), fullPage: false });
    expect(await verdict.getAttribute('data-state')).toBe('verified');
    const doc = JSON.parse(readFileSync(evidence.provenanceFile, 'utf8')) as { entries: { role: string }[] };
    expect(await page.locator('#timeline tbody tr').count()).toBe(doc.entries.filter((e) => e.role === 'unit').length);
    expect(await text('#timeline')).toContain('SecurityStateRead');
    // The provenance document downloads as the ledger serves it.
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download provenance document' }).click()]);
    expect(download.suggestedFilename()).toBe(`${evidence.serial}.json`);
    expect((JSON.parse(readFileSync(await download.path(), 'utf8')) as { serial: string }).serial).toBe(evidence.serial);
  });

  it('finds the unit by its MAC (any case and separators) and by its chip id', async () => {
    const unit = (await (await fetch(`${evidence.ledger.url}/v1/units/${encodeURIComponent(evidence.serial)}`, { headers: { authorization: `Bearer ${evidence.ledger.tokens.auditor}` } })).json()) as { mac: string; chipId: string };
    expect(unit.mac).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
    for (const query of [unit.mac.toUpperCase().replaceAll(':', '-'), unit.chipId]) {
      await page.goto(`${evidence.ledger.url}/ui#/units`);
      await page.getByLabel('Serial number, MAC or chip id').fill(query);
      await page.getByRole('button', { name: 'Show' }).click();
      await page.locator('#timeline-verdict[data-state="verified"]').waitFor({ timeout: 60_000 });
      expect(await text('#unit-facts')).toContain(evidence.serial);
    }
    await page.goto(`${evidence.ledger.url}/ui#/units/NO-SUCH-UNIT`);
    await expect.poll(() => text('#unit')).toMatch(/No unit has the serial, MAC or chip id NO-SUCH-UNIT/);
  });

  it('the same timeline against another key is not verified, and nothing of it is shown', async () => {
    const other = formatVerifierKey(evidence.verifierKey.split('+')[0] as string, newSigner().publicKey);
    await logIn(evidence.ledger.tokens.auditor, other);
    await page.goto(`${evidence.ledger.url}/ui#/units/${encodeURIComponent(evidence.serial)}`);
    const verdict = page.locator('#timeline-verdict');
    await verdict.waitFor({ timeout: 60_000 });
    await page.screenshot({ path: screenshotPath('web-unit-wrong-key') });
    expect(await verdict.getAttribute('data-state')).toBe('failed');
    expect(await verdict.getAttribute('data-code')).toBe('CHECKPOINT_SIGNATURE_ERROR');
    expect(await page.locator('#timeline').count()).toBe(0);
  });

  it('with the pinned ML-DSA-44 key, a timeline is verified under the hybrid policy (both checkpoint signatures), and refused against another ML-DSA-44 key', async () => {
    await logIn(evidence.ledger.tokens.auditor, evidence.verifierKey, evidence.pqVerifierKey);
    await page.goto(`${evidence.ledger.url}/ui#/units/${encodeURIComponent(evidence.serial)}`);
    const verdict = page.locator('#timeline-verdict');
    await verdict.waitFor({ timeout: 60_000 });
    await page.screenshot({ path: screenshotPath('web-unit-timeline-hybrid') });
    expect(await verdict.getAttribute('data-state')).toBe('verified');
    expect(await verdict.getAttribute('data-signatures')).toBe('Ed25519 ML-DSA-44');
    expect(await verdict.innerText()).toMatch(/signed with Ed25519 \+ ML-DSA-44 \(hybrid policy\)/);
    expect(await page.locator('#timeline tbody tr').count()).toBeGreaterThan(0);
    // Without it, the classical policy: Ed25519 alone is checked, and the page says so.
    await logIn(evidence.ledger.tokens.auditor, evidence.verifierKey);
    await page.goto(`${evidence.ledger.url}/ui#/units/${encodeURIComponent(evidence.serial)}`);
    await page.locator('#timeline-verdict[data-state="verified"]').waitFor({ timeout: 60_000 });
    expect(await page.locator('#timeline-verdict').getAttribute('data-signatures')).toBe('Ed25519');
    // Another ML-DSA-44 key under the ledger's name: the checkpoint carries no signature by it, so nothing is shown.
    const otherPq = formatMlDsaVerifierKey(evidence.verifierKey.split('+')[0] as string, newMlDsaSigner().publicKey);
    await logIn(evidence.ledger.tokens.auditor, evidence.verifierKey, otherPq);
    await page.goto(`${evidence.ledger.url}/ui#/units/${encodeURIComponent(evidence.serial)}`);
    await page.locator('#timeline-verdict').waitFor({ timeout: 60_000 });
    expect(await page.locator('#timeline-verdict').getAttribute('data-state')).toBe('failed');
    expect(await page.locator('#timeline-verdict').getAttribute('data-code')).toBe('CHECKPOINT_PQ_SIGNATURE_ERROR');
    expect(await page.locator('#timeline').count()).toBe(0);
  });

  it('lists the units carrying a firmware image, and downloads them as CSV', async () => {
    await logIn(evidence.ledger.tokens.auditor, evidence.verifierKey);
    const sha = evidence.sim.truth.applicationImage[evidence.serial] as string;
    await page.goto(`${evidence.ledger.url}/ui#/firmware/${sha}`);
    await page.locator('#firmware-units').waitFor();
    const rows = await page.locator('#firmware-units tbody tr').count();
    const carriers = Object.values(evidence.sim.truth.applicationImage).filter((s) => s === sha).length;
    expect(rows).toBeGreaterThan(0);
    expect(rows).toBeLessThanOrEqual(carriers);
    expect(await text('#firmware-units')).toContain(evidence.serial);
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download CSV' }).click()]);
    const csv = readFileSync(await download.path(), 'utf8').trim().split(/\r?\n/);
    expect(csv[0]).toMatch(/^serial,batch_id,status,carries/);
    expect(csv.length - 1).toBe(rows);
  });

  it('the batch dashboard shows exactly what the simulator injected: yield, scrap, rework, failure causes, drift', async () => {
    const { truth, batchId } = evidence.sim;
    await logIn(evidence.ledger.tokens.auditor, evidence.verifierKey);
    await page.goto(`${evidence.ledger.url}/ui#/batches/${encodeURIComponent(batchId)}`);
    await page.locator('#fig-started').waitFor();
    await page.screenshot({ path: screenshotPath('web-batch-dashboard'), fullPage: false });
    const value = (id: string) => page.locator(`#${id}`).getAttribute('data-value');
    expect(await value('fig-started')).toBe(String(truth.started));
    expect(await value('fig-scrapped')).toBe(String(truth.scrapped.length));
    expect(await value('fig-reworked')).toBe(String(truth.reworked.length));
    expect(await value('fig-fpy')).toBe(pct(truth.firstPass.length / truth.started));
    expect(await value('fig-scrap-rate')).toBe(pct(truth.scrapped.length / truth.started));
    expect(await value('fig-drifted')).toBe(String(truth.drifted.length));
    const pareto = await page.locator('#pareto tbody tr').evaluateAll((trs) => trs.map((tr) => Array.from(tr.querySelectorAll('td'), (td) => td.textContent ?? '')));
    const shown = Object.fromEntries(pareto.map(([step, code, count]) => [`${step} ${code}`, Number(count)]));
    const injected = Object.fromEntries(Object.entries(truth.failures).flatMap(([step, codes]) => Object.entries(codes).filter(([, n]) => n > 0).map(([code, n]) => [`${step} ${code}`, n])));
    expect(shown).toEqual(injected);
    const driftSerials = await page.locator('#drift-units tbody tr td:nth-child(2)').allInnerTexts();
    expect([...new Set(driftSerials)].sort()).toEqual([...truth.drifted].sort());
    expect(await page.locator('#pareto-chart').count()).toBe(1);
  });

  it('updates live while a batch runs: a unit flashed with the page open appears without a reload', async () => {
    const t = evidence.ledger;
    await logIn(t.tokens.auditor, evidence.verifierKey);
    await page.goto(`${t.url}/ui#/batches/${encodeURIComponent(t.batchId)}`);
    await page.locator('#fig-started').waitFor();
    const before = Number(await page.locator('#fig-started').getAttribute('data-value'));
    const station = new SimulatedStation(new LedgerClient(t.url, t.tokens.station1), new EventSigner(t.stationKeys['ST-01'], 'ST-01'), { stationId: 'ST-01', operator: 'op', batchId: t.batchId, hardwareRevision: 'rev-C' }, t.release);
    await station.flash('SN-LIVE-1', 'pass');
    await expect.poll(() => page.locator('#fig-started').getAttribute('data-value'), { timeout: 20_000 }).toBe(String(before + 1));
    expect(browser.refused).toEqual([]);
  });
});
