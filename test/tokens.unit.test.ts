/** Bearer tokens from a real token file, re-read when the file changes (adding a station needs no restart). */
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TokenStore, addToken } from '../src/api/tokens.ts';

let dir: string;
let file: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'flashtrail-tokens-'));
  file = join(dir, 'tokens.json');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('token file', () => {
  it('sees a token added to the file, and stops accepting one removed from it', () => {
    const admin = addToken(file, { name: 'admin', role: 'admin' });
    const tokens = TokenStore.fromFile(file, { recheckAfterMs: 0 });
    expect(tokens.lookup(admin)).toEqual({ name: 'admin', role: 'admin' });

    const station = addToken(file, { name: 'st-9', role: 'station', stationId: 'ST-09' });
    expect(tokens.lookup(station)).toEqual({ name: 'st-9', role: 'station', stationId: 'ST-09' });
    expect(tokens.lookup(admin)).toEqual({ name: 'admin', role: 'admin' });

    const list = JSON.parse(readFileSync(file, 'utf8')) as { tokens: { name: string }[] };
    writeFileSync(file, JSON.stringify({ tokens: list.tokens.filter((t) => t.name !== 'admin') }));
    expect(tokens.lookup(admin)).toBeNull();
    expect(tokens.lookup(station)).not.toBeNull();
  });

  it('sees a file renamed over the old one (how editors and config tools replace files)', () => {
    const admin = addToken(file, { name: 'admin', role: 'admin' });
    const tokens = TokenStore.fromFile(file, { recheckAfterMs: 0 });
    const next = join(dir, 'tokens.next.json');
    const auditor = addToken(next, { name: 'auditor', role: 'auditor' });
    renameSync(next, file);
    expect(tokens.lookup(auditor)).toEqual({ name: 'auditor', role: 'auditor' });
    expect(tokens.lookup(admin)).toBeNull();
  });

  it('keeps the last valid list while the file is invalid, and takes the file again once it is valid', () => {
    const admin = addToken(file, { name: 'admin', role: 'admin' });
    const tokens = TokenStore.fromFile(file, { recheckAfterMs: 0 });
    const valid = readFileSync(file, 'utf8');
    writeFileSync(file, valid.slice(0, valid.length / 2));
    expect(tokens.lookup(admin)).toEqual({ name: 'admin', role: 'admin' });
    writeFileSync(file, valid);
    const station = addToken(file, { name: 'st-1', role: 'station', stationId: 'ST-01' });
    expect(tokens.lookup(station)).not.toBeNull();
  });

  it('trusts the list it has for a known token during the recheck interval, and looks at the file at once for an unknown one', () => {
    const admin = addToken(file, { name: 'admin', role: 'admin' });
    const before = readFileSync(file, 'utf8');
    const tokens = TokenStore.fromFile(file, { recheckAfterMs: 60_000 });
    // Added, then used at once (a station's token, the moment it is printed): found without waiting for the interval.
    const later = addToken(file, { name: 'later', role: 'auditor' });
    expect(tokens.lookup(later)).toEqual({ name: 'later', role: 'auditor' });
    // Removed again: a known token is not looked for in the file until the interval has passed.
    writeFileSync(file, before);
    expect(tokens.lookup(later)).toEqual({ name: 'later', role: 'auditor' });
    expect(TokenStore.fromFile(file).lookup(later)).toBeNull();
    expect(tokens.lookup(admin)).toEqual({ name: 'admin', role: 'admin' });
    expect(tokens.lookup('not-a-token')).toBeNull();
  });

  it('refuses to start from an invalid token file', () => {
    writeFileSync(file, '{"tokens": [{"name": "x"}]}');
    expect(() => TokenStore.fromFile(file)).toThrow(/not a valid token list/);
  });
});
