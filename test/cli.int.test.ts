/** The command line as a user runs it: real processes, real files. */
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { readSecretKeyFile } from '../src/files/key-file.ts';
import { spawnLedger } from './helpers/server-process.ts';
import { LedgerClient } from '../src/client/ledger-client.ts';

const ROOT = join(fileURLToPath(import.meta.url), '..', '..');
const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'flashtrail-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function flashtrail(args: string[], env: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await run(process.execPath, [join(ROOT, 'bin', 'flashtrail.js'), ...args], { cwd: dir, env: { ...process.env, ...env } });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('flashtrail CLI', () => {
  it('keys generate writes a 0600 key file, prints only the public half, and never overwrites', async () => {
    const file = join(dir, 'station.key');
    const result = await flashtrail(['keys', 'generate', '--out', file]);
    expect(result.code).toBe(0);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const printed = JSON.parse(result.stdout) as { keyId: string; publicKey: string };
    const signer = readSecretKeyFile(file);
    expect(printed.keyId).toBe(signer.keyId);
    expect(result.stdout).not.toContain(Buffer.from(signer.secretKey).toString('hex'));
    const again = await flashtrail(['keys', 'generate', '--out', file]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/refusing to overwrite/);
  });

  it('refuses to use a key file that others can read', async () => {
    const file = join(dir, 'loose.key');
    await flashtrail(['keys', 'generate', '--out', file]);
    chmodSync(file, 0o644);
    expect(() => readSecretKeyFile(file)).toThrow(/chmod 600/);
  });

  it('tokens add prints the token once and stores only its hash', async () => {
    const data = join(dir, 'tok');
    // A directory no ledger has initialised is refused: a token there would never work.
    const nowhere = await flashtrail(['tokens', 'add', '--name', 'line1-st1', '--role', 'station', '--station', 'ST-01', '--data', data]);
    expect(nowhere.code).toBe(1);
    expect(nowhere.stderr).toBe(`flashtrail: ${data} is not the data directory of a ledger (it has no ledger.json): name the ledger's directory with --data or FLASHTRAIL_DATA_DIR, or initialise it first (flashtrail init or flashtrail serve)\n`);
    expect(existsSync(join(data, 'tokens.json'))).toBe(false);
    expect((await flashtrail(['init', '--data', data])).code).toBe(0);
    const result = await flashtrail(['tokens', 'add', '--name', 'line1-st1', '--role', 'station', '--station', 'ST-01', '--data', data]);
    expect(result.code).toBe(0);
    const token = result.stdout.trim();
    expect(token).toMatch(/^ft_/);
    const file = readFileSync(join(data, 'tokens.json'), 'utf8');
    expect(file).not.toContain(token);
    expect(statSync(join(data, 'tokens.json')).mode & 0o777).toBe(0o600);
    const bad = await flashtrail(['tokens', 'add', '--name', 'x', '--role', 'station', '--data', data]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/needs --station/);
  });

  it('unknown commands exit 2 with one line that names them and points to --help', async () => {
    const result = await flashtrail(['frobnicate']);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('flashtrail: unknown command frobnicate; see flashtrail --help\n');
  });

  it('demo flashes units through a real ledger and verifies one history', async () => {
    const result = await flashtrail(['demo', '--units', '4', '--batch-units', '40', '--data', join(dir, 'demo')]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/SN0024003 +shipped +2 /);
    expect(result.stdout).toMatch(/refused .*409 RULE_VIOLATION CHAIN_LOCKED/);
    expect(result.stdout).toMatch(/ok +inclusion/);
    expect(result.stdout).toMatch(/verified: 15 events by ST-01/); // the last unit, through the recipe up to its lock
    expect(result.stdout).toMatch(/units started +40 +40/);
    expect(result.stdout).toMatch(/the ledger's views match what was injected/);
  });

  it('admin submit signs and submits an administrative event; projections rebuild runs offline', async () => {
    const data = join(dir, 'admin');
    await flashtrail(['init', '--data', data]);
    const server = await spawnLedger(data);
    try {
      const payload = join(dir, 'station.json');
      writeFileSync(payload, JSON.stringify({ stationId: 'ST-09', line: 'L2', site: 'Plant 2' }));
      const port = new URL(server.url).port;
      const result = await flashtrail(['admin', 'submit', 'StationRegistered', payload, '--data', data, '--url', server.url]);
      expect(result.code, result.stderr).toBe(0);
      expect(JSON.parse(result.stdout)).toMatchObject({ stream: 'station-ST-09', revision: 0 });
      const token = readFileSync(join(data, 'admin.token'), 'utf8').trim();
      const station = await new LedgerClient(`http://127.0.0.1:${port}`, token).get<{ line: string }>('/v1/stations/ST-09');
      expect(station.line).toBe('L2');
      const dup = await flashtrail(['admin', 'submit', 'StationRegistered', payload, '--data', data, '--url', server.url]);
      expect(dup.code).toBe(1);
      expect(dup.stderr).toMatch(/409 RULE_VIOLATION/);
      // No --url: the URL the server wrote to its data directory.
      expect(readFileSync(join(data, 'ledger.url'), 'utf8')).toBe(`${server.url}\n`);
      const found = await flashtrail(['admin', 'submit', 'StationRegistered', payload, '--data', data]);
      expect(found.stderr).toMatch(/409 RULE_VIOLATION/);
      // An export of a batch that does not exist: one line, exit 1, no file.
      const out = join(dir, 'nope.ndjson');
      const empty = await flashtrail(['export', '--batch', 'NOPE', '--out', out, '--data', data]);
      expect(empty.code).toBe(1);
      expect(empty.stderr).toContain('flashtrail: no unit matches the selection {"batchId":"NOPE"}: nothing was exported');
      expect(existsSync(out)).toBe(false);
    } finally {
      await server.kill('SIGTERM');
    }
    const rebuilt = await flashtrail(['projections', 'rebuild', '--data', data]);
    expect(rebuilt.code, rebuilt.stderr).toBe(0);
    expect(rebuilt.stderr).toMatch(/rebuild complete/);
  });
});
