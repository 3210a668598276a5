/** Durable writes and a data directory that survives a crash at any point of its initialisation. */
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { removeStaleTempFiles, writeFileDurable } from '../src/files/durable.ts';
import { readPublicKeyList, readSecretKeyFile, writeSecretKeyFile } from '../src/files/key-file.ts';
import { newSigner } from '../src/crypto/ed25519.ts';
import { configFromEnv, initDataDir, ledgerIdentity } from '../src/server/main.ts';

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'flashtrail-durable-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('writeFileDurable', () => {
  it('writes the whole file with its exact mode, and leaves no temporary file behind', () => {
    const dir = tempDir();
    const file = join(dir, 'tokens.json');
    writeFileDurable(file, '{"tokens":[]}\n');
    expect(readFileSync(file, 'utf8')).toBe('{"tokens":[]}\n');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    writeFileDurable(join(dir, 'public.json'), 'x', { mode: 0o644 });
    expect(statSync(join(dir, 'public.json')).mode & 0o777).toBe(0o644);
    expect(readdirSync(dir).sort()).toEqual(['public.json', 'tokens.json']);
  });

  it('replaces a file whole, and refuses to replace one when told not to', () => {
    const dir = tempDir();
    const file = join(dir, 'a.json');
    writeFileDurable(file, 'old');
    writeFileDurable(file, 'new');
    expect(readFileSync(file, 'utf8')).toBe('new');
    expect(() => writeFileDurable(file, 'other', { overwrite: false })).toThrow(expect.objectContaining({ code: 'EEXIST' }));
    expect(readFileSync(file, 'utf8')).toBe('new');
    expect(readdirSync(dir)).toEqual(['a.json']);
  });

  it('a crash before the rename leaves the whole old file, and its temporary file is removed, never read', () => {
    const dir = tempDir();
    const file = join(dir, 'tokens.json');
    writeFileDurable(file, 'old, whole');
    // What a crash between writing the temporary file and renaming it leaves on disk:
    writeFileSync(join(dir, '.tokens.json.tmp-4242-0badf00d'), 'new, half wri');
    expect(readFileSync(file, 'utf8')).toBe('old, whole');
    expect(removeStaleTempFiles(dir)).toEqual(['.tokens.json.tmp-4242-0badf00d']);
    expect(readdirSync(dir)).toEqual(['tokens.json']);
  });
});

describe('a damaged trust root is refused with one line naming the file', () => {
  it('an empty or truncated key file', () => {
    const dir = tempDir();
    const file = join(dir, 'ledger.key');
    writeSecretKeyFile(file, newSigner());
    const text = readFileSync(file, 'utf8');
    for (const damaged of ['', text.slice(0, text.length / 2)]) {
      writeFileSync(file, damaged, { mode: 0o600 });
      expect(() => readSecretKeyFile(file)).toThrow(`key file ${file} is empty or damaged (not a flashtrail-ed25519-secret-key-v1 file): restore it from your backup`);
    }
  });

  it('an empty ledger.json, an admin-keys.json others can write', () => {
    const dataDir = tempDir();
    const config = configFromEnv({}, { dataDir });
    initDataDir(config);
    writeFileSync(join(dataDir, 'ledger.json'), '');
    expect(() => ledgerIdentity(config)).toThrow(`${join(dataDir, 'ledger.json')} is empty or damaged`);
    const again = configFromEnv({}, { dataDir: tempDir() });
    initDataDir(again);
    chmodSync(again.adminKeysFile, 0o666);
    expect(() => readPublicKeyList(again.adminKeysFile)).toThrow(`${again.adminKeysFile} has mode 666: anyone who can write it decides which administrators the ledger trusts (chmod 600 ${again.adminKeysFile})`);
  });
});

describe('initialisation resumes after a crash at any step', () => {
  it('a lost ledger key is refused, not silently replaced by a new identity', () => {
    const dataDir = tempDir();
    const config = configFromEnv({}, { dataDir });
    const first = initDataDir(config);
    rmSync(join(dataDir, 'ledger.key'));
    expect(() => initDataDir(config)).toThrow(/ledger\.key is missing \(key id [0-9a-f]{64}\): it is the log's signing key; restore it from your backup/);
    expect(first.verifierKey).toMatch(/^flashtrail\.local\//);
  });

  it('a crash after the ledger key, before ledger.json: the next start completes with the same key', () => {
    const dataDir = tempDir();
    const config = configFromEnv({}, { dataDir });
    const key = newSigner();
    writeSecretKeyFile(join(dataDir, 'ledger.key'), key);
    const identity = ledgerIdentity(config);
    expect(identity.key.keyId).toBe(key.keyId);
    expect(JSON.parse(readFileSync(join(dataDir, 'ledger.json'), 'utf8'))).toMatchObject({ keyId: key.keyId });
  });

  it('a crash after admin.key, before admin-keys.json: the same administrator key is trusted, not a second one', () => {
    const dataDir = tempDir();
    const config = configFromEnv({}, { dataDir });
    ledgerIdentity(config);
    const admin = newSigner();
    writeSecretKeyFile(join(dataDir, 'admin.key'), admin);
    const result = initDataDir(config);
    expect(result.created).toBe(true);
    expect(JSON.parse(readFileSync(config.adminKeysFile, 'utf8'))).toEqual({ keys: [{ keyId: admin.keyId, publicKey: expect.any(String), name: 'admin' }] });
    expect(existsSync(join(dataDir, 'admin.token'))).toBe(true);
  });

  it('a crash after admin.token, before tokens.json: the next start issues a token that works', () => {
    const dataDir = tempDir();
    const config = configFromEnv({}, { dataDir });
    initDataDir(config);
    rmSync(config.tokensFile);
    const stale = readFileSync(join(dataDir, 'admin.token'), 'utf8');
    initDataDir(config);
    const fresh = readFileSync(join(dataDir, 'admin.token'), 'utf8');
    expect(fresh).not.toBe(stale);
    const list = JSON.parse(readFileSync(config.tokensFile, 'utf8')) as { tokens: { name: string }[] };
    expect(list.tokens.map((t) => t.name)).toEqual(['admin']);
  });
});
