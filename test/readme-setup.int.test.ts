/**
 * The README's "Setting up a line", run as it is written: the shell block is extracted from README.md and run
 * by bash in a fresh directory (with `examples/` beside it, and `npx flashtrail` resolving to this checkout's
 * compiled CLI), then the ledger it started is asked what the lines did. The documentation cannot rot.
 */
import { spawn } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FLASHTRAIL_BIN, ROOT } from './helpers/cli.ts';

const work = mkdtempSync(join(tmpdir(), 'flashtrail-readme-'));
let group: number | undefined;
afterAll(() => {
  if (group !== undefined) {
    try {
      process.kill(-group, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  rmSync(work, { recursive: true, force: true });
});

/** The first ```sh block after the heading. */
function readmeBlock(heading: string): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const at = readme.indexOf(`\n${heading}\n`);
  if (at < 0) throw new Error(`README.md has no heading ${heading}`);
  const block = /```sh\n([\s\S]*?)```/.exec(readme.slice(at));
  if (!block) throw new Error(`no sh block after ${heading}`);
  return block[1]!;
}

describe('README: Setting up a line', () => {
  it('runs as written and leaves a line the ledger knows', async () => {
    const script = readmeBlock('### Setting up a line');
    // `npx flashtrail …` is this checkout's CLI; anything else npx is asked for is an error, not a download.
    const bin = join(work, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'npx'), `#!/bin/sh\n[ "$1" = flashtrail ] || { echo "npx $1: not in this test" >&2; exit 127; }\nshift\nexec "${process.execPath}" "${FLASHTRAIL_BIN}" "$@"\n`);
    chmodSync(join(bin, 'npx'), 0o755);
    const cwd = join(work, 'line');
    mkdirSync(cwd);
    cpSync(join(ROOT, 'examples'), join(cwd, 'examples'), { recursive: true });
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${bin}:${process.env['PATH'] ?? ''}` };
    for (const name of Object.keys(env)) if (name.startsWith('FLASHTRAIL_')) delete env[name];

    const child = spawn('bash', ['-euo', 'pipefail', '-c', script], { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    group = child.pid;
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => process.kill(-(child.pid as number), 'SIGKILL'), 90_000);
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    clearTimeout(timer);
    expect(code, `stdout:\n${stdout}\nstderr:\n${stderr}`).toBe(0);

    // serve said where it listens, in plain text, and wrote the same URL to the data directory.
    const url = readFileSync(join(cwd, 'data', 'ledger.url'), 'utf8').trim();
    expect(stderr).toContain(`flashtrail: ledger listening on ${url} (data ${join(cwd, 'data')};`);
    const auditor = readFileSync(join(cwd, 'qa-audit.token'), 'utf8').trim();
    expect(auditor).toMatch(/^ft_/);
    // The running server reads tokens.json again within a second of a change (src/api/tokens.ts): wait for it.
    for (let i = 0; i < 50; i++) {
      if ((await fetch(`${url}/v1/checkpoint`, { headers: { authorization: `Bearer ${auditor}` } })).status === 200) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const get = async (path: string) => {
      const response = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${auditor}` } });
      expect(response.status, path).toBe(200);
      return (await response.json()) as Record<string, unknown>;
    };
    const release = JSON.parse(readFileSync(join(cwd, 'examples', 'release.json'), 'utf8')) as { releaseId: string };
    const batch = JSON.parse(readFileSync(join(cwd, 'examples', 'batch.json'), 'utf8')) as { batchId: string };
    expect(await get(`/v1/releases/${release.releaseId}`)).toMatchObject({ release: { releaseId: release.releaseId } });
    expect(await get(`/v1/batches/${batch.batchId}`)).toMatchObject({ status: 'open' });
    const station = (await get('/v1/stations/ST-01')) as { line: string; keys: { keyId: string; revokedAt: string | null }[] };
    expect(station.line).toBe('L1');
    expect(station.keys).toHaveLength(1);
    // The station's own files name the key that was registered, and its token works for that station.
    const config = JSON.parse(readFileSync(join(cwd, 'st-01', 'station.json'), 'utf8')) as Record<string, unknown>;
    expect(JSON.stringify(config)).toContain('ST-01');
  }, 120_000);
});
