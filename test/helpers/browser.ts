/**
 * Headless Chromium for the page tests: Debian's chromium (/usr/bin/chromium) driven by playwright-core (no browser
 * download), a fresh profile per run, and every network request refused by route interception, recorded so
 * that a test can assert the page asked for nothing. Without chromium the tests skip and say why.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { ROOT } from './cli.ts';

/**
 * Debian's chromium as found on PATH (/usr/bin/chromium on Debian), so that a machine without it (or a PATH that
 * leaves it out, as ../shared/bin/without-tools does) skips rather than fails.
 */
export const CHROMIUM: string | null = (() => {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    const candidate = join(dir, 'chromium');
    if (dir !== '' && existsSync(candidate)) return candidate;
  }
  return null;
})();

/** Why the browser tests cannot run here, or null when they can. */
export const chromiumSkip: string | null = (() => {
  if (CHROMIUM === null) return 'chromium is not on PATH (apt-get install chromium)';
  const probe = spawnSync(CHROMIUM, ['--version'], { encoding: 'utf8', timeout: 20_000 });
  if (probe.error || probe.status !== 0) return `${CHROMIUM} does not run: ${probe.error?.message ?? probe.stderr.trim()}`;
  return null;
})();

export interface Browser {
  readonly context: BrowserContext;
  /** Every request the pages tried to make that was not allowed (and was aborted). */
  readonly refused: string[];
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

/**
 * `allow` admits requests to these URL prefixes (the ledger on loopback, for the web interface); everything
 * else with a network scheme is aborted. file:, blob: and data: never leave the machine.
 */
export async function startBrowser(allow: readonly string[] = []): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'flashtrail-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM as string,
    headless: true,
    viewport: { width: 1366, height: 768 },
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const refused: string[] = [];
  // Only what is not allowed is intercepted (an intercepted request that continues would have its streamed
  // response, the live updates' server-sent events, buffered by the interception).
  const allowed = (url: string) => /^(file|blob|data):/.test(url) || allow.some((a) => url.startsWith(a));
  await context.route(
    (url) => !allowed(url.href),
    (route) => {
      refused.push(route.request().url());
      return route.abort('blockedbyclient');
    },
  );
  return {
    context,
    refused,
    newPage: () => context.newPage(),
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Screenshots are artifacts of the run, under test-results/. */
export function screenshotPath(name: string): string {
  const dir = join(ROOT, 'test-results');
  mkdirSync(dir, { recursive: true });
  return join(dir, `${name}.png`);
}
