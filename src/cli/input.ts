/** Reading what commands are given: files that may be missing or malformed, numbers, URLs. One clear error each. */
import { readFileSync } from 'node:fs';
import { CliError, UsageError, describeExpectedFailure } from './errors.ts';

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

