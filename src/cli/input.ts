/** Reading what commands are given: files that may be missing or malformed, numbers, URLs. One clear error each. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { CliError, UsageError, describeExpectedFailure } from './errors.ts';
import { LEDGER_URL_FILE } from '../server/config.ts';

/** A text file, or stdin for `-`; a missing or unreadable file is a CliError that says which file it was for. */
export function readTextFile(file: string, what: string): string {
  try {
    return readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (error) {
    const reason = describeExpectedFailure(error);
    if (reason === null) throw error;
    throw new CliError(`cannot read ${what}: ${file === '-' ? `stdin: ${reason}` : reason}`);
  }
}

/** A JSON file (or stdin for `-`), parsed. */
export function readJsonFile(file: string, what: string): unknown {
  const text = readTextFile(file, what);
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new CliError(`${file === '-' ? 'stdin' : file} (${what}) is not valid JSON: ${(error as Error).message}`);
  }
}

/** A bearer token file: one line, the token. */
export function readTokenFile(file: string): string {
  const token = readTextFile(file, 'the token file').trim();
  if (token === '') throw new CliError(`the token file ${file} is empty`);
  return token;
}

/** A whole number option within bounds, or the fallback when not given. */
export function wholeNumber(raw: string | undefined, flag: string, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!/^-?\d+$/.test(raw.trim()) || !Number.isSafeInteger(n) || n < min || n > max) throw new UsageError(`${flag} must be a whole number from ${min} to ${max}, not ${raw}`);
  return n;
}

/** A probability option in [0, 1). */
export function rate(raw: string | undefined, flag: string, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (raw.trim() === '' || !(n >= 0 && n < 1)) throw new UsageError(`${flag} must be a rate from 0 to below 1, not ${raw}`);
  return n;
}

/** An http(s) URL option. */
export function httpUrl(raw: string, flag: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`${flag} must be a URL such as http://127.0.0.1:8080, not ${raw}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`${flag} must be an http or https URL, not ${raw}`);
  return raw;
}

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

/**
 * Schema issues as one line, each naming its field from the event's root the way the ledger does
 * (`SCHEMA_INVALID: data.images[0].sha256: lowercase hex SHA-256 digest`); a missing member says so.
 */
export function schemaIssuesLine(issues: readonly z.core.$ZodIssue[], input: unknown, root = 'data'): string {
  const at = (path: readonly PropertyKey[]) => path.reduce<unknown>((v, k) => (v !== null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[k] : undefined), input);
  const each = issues.map((i) => {
    const missing = i.path.length > 0 && at(i.path) === undefined;
    const expected = i.message.replace(/^Invalid (input|option): /, '').replace(/, received undefined$/, '');
    return `${z.core.toDotPath([root, ...i.path])}: ${missing ? `missing (${expected})` : i.message}`;
  });
  return `SCHEMA_INVALID: ${each.join('; ')}`;
}

/**
 * Digests no real content has: all zeros (or all one digit), the placeholders of templates and half-done
 * edits. Returns the path of the first, from the event's root (`data.images[1].sha256`), or null.
 */
export function placeholderDigest(value: unknown, path: (string | number)[] = ['data']): string | null {
  if (typeof value === 'string') return /^([0-9a-f])\1{63}(?:\1{64})?$/i.test(value) ? z.core.toDotPath(path) : null;
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) {
      const found = placeholderDigest(v, [...path, i]);
      if (found) return found;
    }
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      const found = placeholderDigest(v, [...path, k]);
      if (found) return found;
    }
  }
  return null;
}
