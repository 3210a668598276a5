/** Which ledger a client command calls: one rule for every command. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CliError } from './errors.ts';
import { httpUrl, readTextFile } from './input.ts';
import { LEDGER_URL_FILE } from '../server/config.ts';

/**
 * The ledger a command talks to, resolved the same way by every command: `--url`; else FLASHTRAIL_URL; else
 * the URL the ledger serving this data directory wrote to `<data>/ledger.url` when it started (so that
 * `serve --port 0` and every command on the same `--data` or FLASHTRAIL_DATA_DIR find each other); else
 * http://FLASHTRAIL_HOST:FLASHTRAIL_PORT (127.0.0.1:8080).
 */
export function resolveLedgerUrl(flag: string | undefined, dataDir: string, fallback: string, env: NodeJS.ProcessEnv = process.env): string {
  if (flag !== undefined) return httpUrl(flag, '--url');
  const fromEnv = env['FLASHTRAIL_URL'];
  if (fromEnv !== undefined && fromEnv !== '') return httpUrl(fromEnv, 'FLASHTRAIL_URL');
  const file = join(dataDir, LEDGER_URL_FILE);
  if (existsSync(file)) {
    const url = readTextFile(file, 'the URL the ledger wrote').trim();
    try {
      return httpUrl(url, file);
    } catch {
      throw new CliError(`${file} does not hold a ledger URL (${JSON.stringify(url.slice(0, 80))}); give --url, or start the ledger again to rewrite it`);
    }
  }
  return fallback;
}
