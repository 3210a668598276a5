/**
 * What the commands that talk to a running ledger share: where it is (--url, or FLASHTRAIL_HOST and
 * FLASHTRAIL_PORT), the token (--token-file, default <data>/admin.token), and writing an answer to a file
 * (durably) or to stdout.
 */
import { join } from 'node:path';
import { httpUrl, readTokenFile } from './input.ts';
import { configFromEnv, ledgerUrl } from '../server/config.ts';
import { writeFileDurable } from '../files/durable.ts';

export const LEDGER_ACCESS_OPTIONS = {
  url: { type: 'string', value: 'URL', help: 'the ledger (default http://FLASHTRAIL_HOST:FLASHTRAIL_PORT, i.e. http://127.0.0.1:8080)' },
  'token-file': { type: 'string', value: 'FILE', help: 'bearer token, admin or auditor (default <data>/admin.token)' },
  data: { type: 'string', value: 'DIR', help: 'data directory holding the defaults (default FLASHTRAIL_DATA_DIR or ./data)' },
} as const;

export const LEDGER_ACCESS_ENVIRONMENT = ['FLASHTRAIL_DATA_DIR', 'FLASHTRAIL_HOST', 'FLASHTRAIL_PORT'];

export interface LedgerAccess {
  readonly url: string;
  readonly token: string;
  readonly dataDir: string;
}

export function ledgerAccess(values: { url?: string; 'token-file'?: string; data?: string }): LedgerAccess {
  const config = configFromEnv(process.env, values.data !== undefined ? { dataDir: values.data } : {});
  return {
    url: values.url !== undefined ? httpUrl(values.url, '--url') : ledgerUrl(config),
    token: readTokenFile(values['token-file'] ?? join(config.dataDir, 'admin.token')),
    dataDir: config.dataDir,
  };
}

/** The answer to --out FILE (written durably, 0644: it is for people and other tools) or to stdout. */
export function writeAnswer(text: string, out: string | undefined): void {
  if (out === undefined || out === '-') process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  else writeFileDurable(out, text, { mode: 0o644 });
}

/** GET a path with query parameters (undefined ones left out) and return the body as text. */
export async function getAnswer(access: LedgerAccess, path: string, query: Record<string, string | undefined> = {}): Promise<string> {
  const { LedgerClient } = await import('../client/ledger-client.ts');
  const params = new URLSearchParams(Object.entries(query).filter((e): e is [string, string] => e[1] !== undefined));
  const qs = params.toString();
  return new LedgerClient(access.url, access.token).getText(qs ? `${path}?${qs}` : path);
}

/** JSON answers are printed indented, for people. */
export const pretty = (text: string): string => JSON.stringify(JSON.parse(text), null, 2) + '\n';
