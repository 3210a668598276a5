/**
 * The standalone verifier at the size the issue asks for: a 100k-event export (--events N to change it)
 * verified by `@flashtrail/verify` packed with `npm pack` and installed offline into an empty directory, native
 * and portable, next to `flashtrail verify` on the same file, and by the offline page in headless Chromium. Every verdict must be "verified"; the throughput
 * and the memory peak of each process are reported.
 *
 *   npm run bench:verify-package            (minutes: builds the ledger and the export first)
 *   npm run bench:verify-package -- --events 20000
 */
import { execFileSync } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
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

interface Verdict {
  ok: boolean;
  report: { units: number; events: number; seconds: number; peakMemoryMb: number; threads: number };
}

function verify(command: string[], file: string, keyFile: string, extra: string[] = []): Verdict {
  const out = execFileSync(process.execPath, [...command, file, '--ledger-key', `@${keyFile}`, '--json', ...extra], { encoding: 'utf8', maxBuffer: 1 << 26 });
  const verdict = JSON.parse(out) as Verdict;
  if (!verdict.ok) throw new Error(`not verified: ${out.slice(0, 500)}`);
  return verdict;
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'flashtrail-bench-verify-package-'));
  try {
    const filled = await fillLedger(dir, TARGET, (l) => console.error(l));
    const ledger = await startLedgerServer({ ...filled.config, port: 0, logLevel: 'warn' }, pino({ level: 'warn' }));
    const file = join(dir, 'export.ndjson');
    const keyFile = join(dir, 'ledger.pub');
    try {
      writeFileSync(keyFile, ledger.identity.verifierKey + '\n');
      ledgerKeyText = ledger.identity.verifierKey;
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
    ] as const) {
      const v = verify([...command], file, keyFile, [...extra]);
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
        const t = performance.now();
        await page.locator('#file').setInputFiles(file);
        await page.locator('#verdict[data-state="verified"], #verdict[data-state="failed"], #verdict[data-state="error"]').waitFor({ timeout: 3_600_000 });
        const state = await page.locator('#verdict').getAttribute('data-state');
        if (state !== 'verified') throw new Error(`the offline page did not verify the export: ${await page.locator('#verdict').innerText()}`);
        const workers = await page.evaluate(() => Math.min(8, Math.max(1, navigator.hardwareConcurrency || 2)));
        results.add('page.events_per_s', `the offline page (verify.html) in headless Chromium, portable, ${workers} Web Workers`, TARGET / ((performance.now() - t) / 1000), 'events/s (about)');
        if (browser.refused.length > 0) throw new Error(`the page asked the network for ${browser.refused.join(', ')}`);
      } finally {
        await browser.close();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  results.print();
}

runBench(main);
