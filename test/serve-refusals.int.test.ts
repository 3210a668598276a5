/**
 * `flashtrail serve` as a real process refuses what it must not run with, in one line naming the variable or
 * the file and an exit status, never a stack trace: unusable settings, damaged key and trust files, a data
 * directory another server holds, a data directory or trust root others can write.
 */
import { chmodSync, cpSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { oneLineFailure, runCli } from './helpers/cli.ts';
import { spawnLedger } from './helpers/server-process.ts';

const root = mkdtempSync(join(tmpdir(), 'flashtrail-serve-refusals-'));
let initialised: string;
let copies = 0;

/** A fresh copy of an initialised data directory. */
function dataDir(): string {
  const dir = join(root, `copy-${++copies}`);
  cpSync(initialised, dir, { recursive: true }); // keeps each file's mode
  return dir;
}

const serve = (dir: string, env: Record<string, string> = {}) =>
  runCli(['serve', '--data', dir, '--port', '0'], { env: { FLASHTRAIL_LOG_LEVEL: 'silent', ...env }, timeoutMs: 20_000 });

function expectRefusal(r: Awaited<ReturnType<typeof serve>>, message: RegExp): void {
  const f = oneLineFailure(r);
  expect(f.stackFrames, r.stderr).toBe(false);
  expect(f.lines, r.stderr).toBe(1);
  expect(f.line).toMatch(/^flashtrail: /);
  expect(f.line).toMatch(message);
  expect(f.code).toBe(1);
}

beforeAll(async () => {
  initialised = join(root, 'initialised');
  const init = await runCli(['init', '--data', initialised]);
  expect(init.code, init.stderr).toBe(0);
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('serve refuses unusable settings in one line naming the variable', () => {
  it.each([
    ['FLASHTRAIL_MAX_BODY_BYTES', '4MB', /FLASHTRAIL_MAX_BODY_BYTES must be a whole number of bytes from 1024 to 1073741824, not 4MB$/],
    ['FLASHTRAIL_PORT', '', /FLASHTRAIL_PORT must be a whole number from 0 to 65535, not "" \(unset it for the default\)$/],
    ['FLASHTRAIL_CHECKPOINT_INTERVAL_S', 'abc', /FLASHTRAIL_CHECKPOINT_INTERVAL_S must be a number of seconds from 0\.1 to 86400, not abc$/],
    ['FLASHTRAIL_TOKENS', '{"tokens":[{"name":"x"}]}', /FLASHTRAIL_TOKENS is not a valid token list: tokens\.0\.role: /],
    ['FLASHTRAIL_LOG_LEVEL', 'loud', /FLASHTRAIL_LOG_LEVEL must be fatal, error, warn, info, debug, trace or silent, not loud$/],
    ['FLASHTRAIL_STORE', 'mysql', /FLASHTRAIL_STORE must be sqlite, postgres or eventstoredb, not mysql$/],
    // The plant broker (IPC-CFX): refused before anything starts, the password never shown.
    ['FLASHTRAIL_CFX_BROKER_URL', 'amqp://flashtrail:s3cret@broker.plant1.example', /FLASHTRAIL_CFX_HANDLE is required with a broker: the ledger's CFX handle, e\.g\. Plant1\.L1\.flashtrail$/],
    ['FLASHTRAIL_CFX_HANDLE', 'Plant1.L1.flashtrail', /FLASHTRAIL_CFX_HANDLE set, but no FLASHTRAIL_CFX_BROKER_URL: set the broker URL, or unset them$/],
    ['FLASHTRAIL_CFX_MAX_IN_FLIGHT', '0', /^flashtrail: FLASHTRAIL_CFX_MAX_IN_FLIGHT: /],
  ])('%s=%j', async (name, value, message) => {
    const dir = dataDir();
    // FLASHTRAIL_LOG_LEVEL is the variable under test in one case: do not set it twice.
    const r = await runCli(['serve', '--data', dir, '--port', '0'], { env: { FLASHTRAIL_LOG_LEVEL: 'silent', [name]: value }, timeoutMs: 20_000 });
    expectRefusal(r, message);
  });
});

describe('serve refuses an unusable plant broker setting in one line, never showing the password', () => {
  it.each([
    [{ FLASHTRAIL_CFX_BROKER_URL: 'http://flashtrail:s3cret@broker.plant1.example' }, /FLASHTRAIL_CFX_BROKER_URL must be amqp:\/\/ or amqps:\/\/, not http:\/\/$/],
    [{ FLASHTRAIL_CFX_BROKER_URL: 'amqp://flashtrail@broker.plant1.example', FLASHTRAIL_CFX_PASSWORD_FILE: '/nonexistent/cfx-password' }, /FLASHTRAIL_CFX_PASSWORD_FILE \/nonexistent\/cfx-password cannot be read$/],
    [{ FLASHTRAIL_CFX_BROKER_URL: 'amqps://flashtrail:s3cret@broker.plant1.example', FLASHTRAIL_CFX_CA_FILE: '/nonexistent/plant-ca.pem' }, /FLASHTRAIL_CFX_CA_FILE \/nonexistent\/plant-ca\.pem cannot be read \(ENOENT\)$/],
    [{ FLASHTRAIL_CFX_BROKER_URL: 'amqp://flashtrail:s3cret@broker.plant1.example', FLASHTRAIL_CFX_HANDLE: 'Plant 1' }, /FLASHTRAIL_CFX_HANDLE: dot-separated names/],
  ])('%j', async (env, message) => {
    const r = await serve(dataDir(), { FLASHTRAIL_CFX_HANDLE: 'Plant1.L1.flashtrail', ...env });
    expectRefusal(r, message);
    expect(r.stderr + r.stdout).not.toContain('s3cret');
  });
});

describe('serve refuses damaged key and trust files, naming the file', () => {
  it('a truncated ledger.key: the documented one-line refusal', async () => {
    const dir = dataDir();
    const file = join(dir, 'ledger.key');
    const text = readFileSync(file, 'utf8');
    writeFileSync(file, text.slice(0, Math.floor(text.length / 2)), { mode: 0o600 });
    expectRefusal(await serve(dir), new RegExp(`^flashtrail: key file ${file} is empty or damaged \\(not a flashtrail-ed25519-secret-key-v1 file\\): restore it from your backup$`));
  });

  it('an empty ledger.key (what a power cut before the fsync leaves)', async () => {
    const dir = dataDir();
    writeFileSync(join(dir, 'ledger.key'), '', { mode: 0o600 });
    expectRefusal(await serve(dir), /ledger\.key is empty or damaged .*: restore it from your backup$/);
  });

  it('a truncated ledger.json', async () => {
    const dir = dataDir();
    const file = join(dir, 'ledger.json');
    writeFileSync(file, readFileSync(file, 'utf8').slice(0, 10), { mode: 0o600 });
    expectRefusal(await serve(dir), new RegExp(`${file} is empty or damaged \\(expected \\{"origin": …\\}\\): restore it from your backup$`));
  });

  it('a truncated admin-keys.json', async () => {
    const dir = dataDir();
    const file = join(dir, 'admin-keys.json');
    writeFileSync(file, readFileSync(file, 'utf8').slice(0, 12), { mode: 0o600 });
    expectRefusal(await serve(dir), new RegExp(`${file} is empty or damaged \\(not JSON\\): restore it from your backup$`));
  });

  it('a tokens.json that is not a token list', async () => {
    const dir = dataDir();
    const file = join(dir, 'tokens.json');
    writeFileSync(file, '{"tokens": [', { mode: 0o600 });
    expectRefusal(await serve(dir), new RegExp(`${file}: not a valid token list \\(`));
  });
});

describe('file and directory modes', () => {
  it('a tokens.json or admin-keys.json others can write is refused', async () => {
    for (const name of ['tokens.json', 'admin-keys.json']) {
      const dir = dataDir();
      const file = join(dir, name);
      chmodSync(file, 0o666);
      expectRefusal(await serve(dir), new RegExp(`${file} has mode 666: anyone who can write it decides who may append or administer; check it against your backup, then chmod 600 ${file}$`));
    }
  });

  it('a data directory others can write is refused', async () => {
    const dir = dataDir();
    chmodSync(dir, 0o777);
    expectRefusal(await serve(dir), new RegExp(`the data directory ${dir} has mode 777: group or others can replace its keys and trust roots`));
  });

  it('a data directory and files others can read are narrowed, with a warning for each', async () => {
    const dir = dataDir();
    chmodSync(dir, 0o755);
    chmodSync(join(dir, 'tokens.json'), 0o644);
    chmodSync(join(dir, 'admin.token'), 0o644);
    const server = await spawnLedger(dir);
    try {
      expect(statSync(dir).mode & 0o777).toBe(0o700);
      for (const name of ['tokens.json', 'admin.token', 'events.sqlite', 'merkle.sqlite', 'readmodel.sqlite', 'lock.sqlite']) {
        expect(statSync(join(dir, name)).mode & 0o777, name).toBe(0o600);
      }
      const warnings = server.output().split('\n').filter((l) => l.includes('"level":40')).join('\n');
      expect(warnings).toMatch(/had mode 755; narrowed to 700/);
      expect(warnings).toMatch(/tokens\.json had mode 644; narrowed to 600/);
      expect(warnings).toMatch(/admin\.token had mode 644; narrowed to 600 \(it is a bearer token in clear/);
    } finally {
      await server.kill('SIGTERM');
    }
  });
});

describe('one server per data directory', () => {
  it('a second server is refused with a clear message; kill -9 of the first frees the directory', async () => {
    const dir = dataDir();
    const first = await spawnLedger(dir);
    try {
      const second = await serve(dir);
      expectRefusal(second, new RegExp(`the data directory ${dir} is in use by another flashtrail process \\(flashtrail serve, pid ${first.child.pid} on .*\\): stop it first`));
      const rebuild = await runCli(['projections', 'rebuild', '--data', dir]);
      expectRefusal(rebuild, /is in use by another flashtrail process \(flashtrail serve, pid/);
      // The first server still serves.
      expect((await fetch(`${first.url}/healthz`)).status).toBe(200);
    } finally {
      await first.kill('SIGKILL');
    }
    // The kernel released the lock with the process: no stale lock file to remove by hand.
    const again = await spawnLedger(dir);
    expect((await fetch(`${again.url}/healthz`)).status).toBe(200);
    await again.kill('SIGTERM');
  });
});
