/**
 * The standalone verifier at the size the issue asks for: a 100k-event export (--events N to change it)
 * verified under the hybrid policy (Ed25519 + ML-DSA-44 checkpoint, both keys pinned) by `@flashtrail/verify`
 * packed with `npm pack` and installed offline into an empty directory, by `flashtrail verify` on the same file,
 * each native (OpenSSL) and portable (pure JavaScript), and by the offline page in headless Chromium (portable,
 * Web Workers). Every verdict must be "verified"; the throughput and the memory peak of each process are
 * reported, with the load average before and after: on a shared machine the figures are only comparable
 * within one run.
 *
 *   npm run bench:verify-package [-- --json]       (minutes: builds the ledger and the export first)
 *   npm run bench:verify-package -- --events 20000
 */
import { execFileSync } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { createReport, fmt, runBench } from './report.ts';
import { startLedgerServer } from '../src/server/main.ts';
import { selectUnits, writeExport } from '../src/evidence/export.ts';
import { fillLedger } from './fixtures.ts';
import { chromiumSkip, startBrowser } from '../test/helpers/browser.ts';
import { builtPagePath, VERIFIER_PAGE_NAME } from '../src/web/pages.ts';
import { pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const at = process.argv.indexOf('--events');
const TARGET = at > 0 ? Number(process.argv[at + 1]) : 100_000;
const results = createReport('verify-package');
let ledgerKeyText = '';
let pqKeyText = '';

interface Verdict {
  ok: boolean;
  report: { units: number; events: number; seconds: number; peakMemoryMb: number; threads: number };
}

function verify(command: string[], file: string, keyFile: string, pqKeyFile: string, extra: string[] = []): Verdict {
  const out = execFileSync(process.execPath, [...command, file, '--ledger-key', `@${keyFile}`, '--ledger-pq-key', `@${pqKeyFile}`, '--json', ...extra], { encoding: 'utf8', maxBuffer: 1 << 26 });
  const verdict = JSON.parse(out) as Verdict & { report: { signatures: string[] } };
  if (!verdict.ok) throw new Error(`not verified: ${out.slice(0, 500)}`);
  if (verdict.report.signatures.join(' + ') !== 'Ed25519 + ML-DSA-44') throw new Error(`the hybrid policy was not applied: ${verdict.report.signatures.join(' + ')}`);
  return verdict;
}

/** The 1-minute load average, recorded with the figures: the machine is shared. */
function recordLoad(key: string, when: string): void {
  results.add(key, `load average (1 min) ${when}, ${availableParallelism()} cores`, loadavg()[0] as number, '', 2);
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'flashtrail-bench-verify-package-'));
  recordLoad('load.start', 'at the start');
  try {
    const filled = await fillLedger(dir, TARGET, (l) => console.error(l));
    const ledger = await startLedgerServer({ ...filled.config, port: 0, logLevel: 'error' }, pino({ level: 'error' }));
    const file = join(dir, 'export.ndjson');
    const keyFile = join(dir, 'ledger.pub');
    const pqKeyFile = join(dir, 'ledger-ml-dsa.pub');
    try {
      writeFileSync(keyFile, ledger.identity.verifierKey + '\n');
      ledgerKeyText = ledger.identity.verifierKey;
      if (!ledger.identity.mlDsaVerifierKey) throw new Error('the ledger has no ML-DSA-44 key: the hybrid policy cannot be measured');
      pqKeyText = ledger.identity.mlDsaVerifierKey;
      writeFileSync(pqKeyFile, pqKeyText + '\n');
      const deps = { ledger: ledger.ledger, log: ledger.log, checkpointer: ledger.checkpointer, projections: ledger.projections, ledgerKey: ledger.identity.key, origin: ledger.identity.origin, clock: () => new Date() };
      await ledger.log.catchUp();
      const serials = await selectUnits(deps, { batchId: filled.batchId });
      const out = createWriteStream(file);
      for await (const chunk of writeExport(deps, { batchId: filled.batchId }, serials)) if (!out.write(chunk)) await once(out, 'drain');
      out.end();
      await once(out, 'finish');
    } finally {
      await ledger.close();
    }
    const auditor = join(dir, 'auditor');
    mkdirSync(join(auditor, 'cache'), { recursive: true });
    const packed = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', auditor], { cwd: join(ROOT, 'packages', 'verify'), encoding: 'utf8' })) as { filename: string; size: number }[];
    const tarball = join(auditor, (packed[0] as { filename: string }).filename);
    results.add('package.kib', 'packed @flashtrail/verify', statSync(tarball).size / 1024, 'KiB');
    writeFileSync(join(auditor, 'package.json'), '{"name":"auditor","private":true}');
    execFileSync('npm', ['install', '--offline', '--no-audit', '--no-fund', '--cache', join(auditor, 'cache'), tarball], { cwd: auditor, stdio: 'pipe' });
    const bin = join(auditor, 'node_modules', '@flashtrail', 'verify', 'dist', 'flashtrail-verify.js');
    const size = `${(statSync(file).size / 1e6).toFixed(0)} MB`;
    for (const [key, name, command, extra] of [
      ['package.native', 'flashtrail-verify (installed tarball), native', [bin], []],
      ['package.portable', 'flashtrail-verify (installed tarball), portable', [bin], ['--portable']],
      ['cli.native', 'flashtrail verify (the repository CLI), native', [join(ROOT, 'bin', 'flashtrail.js'), 'verify'], []],
      ['cli.portable', 'flashtrail verify (the repository CLI), portable', [join(ROOT, 'bin', 'flashtrail.js'), 'verify'], ['--portable']],
    ] as const) {
      const v = verify([...command], file, keyFile, pqKeyFile, [...extra]);
      results.add(`${key}.events_per_s`, `${name}: ${fmt(v.report.events)} events, ${fmt(v.report.units)} units (${size}), ${v.report.threads} threads`, v.report.events / v.report.seconds, 'events/s');
      results.add(`${key}.peak_rss_mb`, `  its memory peak (RSS, workers included)`, v.report.peakMemoryMb, 'MB');
    }
    // The offline page on the same file, from file:// in headless Chromium with the network refused.
    if (chromiumSkip) {
      results.add('page.events_per_s', `the offline page in headless Chromium: skipped (${chromiumSkip})`, null, 'events/s');
    } else {
      const browser = await startBrowser();
      try {
        const page = await browser.newPage();
        await page.goto(pathToFileURL(builtPagePath(VERIFIER_PAGE_NAME)).href);
        await page.locator('#ledger-key').fill(ledgerKeyText);
        await page.locator('#ledger-pq-key').fill(pqKeyText);
        const t = performance.now();
        await page.locator('#file').setInputFiles(file);
        await page.locator('#verdict[data-state="verified"], #verdict[data-state="failed"], #verdict[data-state="error"]').waitFor({ timeout: 3_600_000 });
        const state = await page.locator('#verdict').getAttribute('data-state');
        const seconds = (performance.now() - t) / 1000;
        if (state !== 'verified') throw new Error(`the offline page did not verify the export: ${await page.locator('#verdict').innerText()}`);
        if ((await page.locator('#verdict').getAttribute('data-signatures')) !== 'Ed25519 ML-DSA-44') throw new Error('the offline page did not apply the hybrid policy');
        const workers = await page.evaluate(() => Math.min(8, Math.max(1, navigator.hardwareConcurrency || 2)));
        // The page's own count of the events it verified (the progress it showed last), over the time to its verdict.
        const events = Number(await page.locator('#progress-text').getAttribute('data-events'));
        results.add('page.events_per_s', `the offline page (verify.html) in headless Chromium, portable, ${workers} Web Workers, from the drop to the verdict`, events / seconds, 'events/s');
        results.add('page.kib', '  the page itself (verify.html, ML-DSA-44 and Ed25519 bundled)', statSync(builtPagePath(VERIFIER_PAGE_NAME)).size / 1024, 'KiB');
        if (browser.refused.length > 0) throw new Error(`the page asked the network for ${browser.refused.join(', ')}`);
      } finally {
        await browser.close();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  recordLoad('load.end', 'at the end');
  results.print();
}

runBench(main);
