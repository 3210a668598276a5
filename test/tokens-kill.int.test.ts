/**
 * kill -9 at any moment of `flashtrail tokens add`, again and again, never leaves a token file the running
 * server then refuses or misreads: after every kill the file is the whole old list or the whole new one, every
 * token a finished run printed works, and a restarted server cleans up what the kills left behind.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FLASHTRAIL_BIN, ROOT, runCli } from './helpers/cli.ts';
import { spawnLedger } from './helpers/server-process.ts';
import { TokenFile } from '../src/files/token-file.ts';

const root = mkdtempSync(join(tmpdir(), 'flashtrail-tokens-kill-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Runs `tokens add` and kills it with SIGKILL after `afterMs`; the token, if it finished first. */
function addTokenThenKill(data: string, name: string, afterMs: number): Promise<{ token: string | null; killed: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [FLASHTRAIL_BIN, 'tokens', 'add', '--name', name, '--role', 'auditor', '--data', data], { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), afterMs);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ token: code === 0 ? stdout.trim() : null, killed: signal === 'SIGKILL' });
    });
  });
}

describe('kill -9 during tokens add', () => {
  it('never leaves a token file the server refuses or misreads', async () => {
    const data = join(root, 'data');
    expect((await runCli(['init', '--data', data])).code).toBe(0);
    const admin = readFileSync(join(data, 'admin.token'), 'utf8').trim();
    const server = await spawnLedger(data);
    const file = join(data, 'tokens.json');
    const issued: string[] = [];
    let killed = 0;
    try {
      // How long one whole run takes on this machine and Node line (Node 26 starts far faster than 20): kills
      // are spread from well before to a little after that, so they land before, during and after the write.
      const started = performance.now();
      const first = await addTokenThenKill(data, 'auditor-calibration', 60_000);
      const wholeRunMs = performance.now() - started;
      expect(first.token, 'an unkilled run prints its token').toBeTruthy();
      issued.push(first.token!);
      for (let i = 0; i < 30; i++) {
        const run = await addTokenThenKill(data, `auditor-${i}`, Math.floor(wholeRunMs * (0.3 + Math.random() * 0.85)));
        if (run.token) issued.push(run.token);
        if (run.killed) killed++;
        // Whole and valid after every kill: parseable, and holding every token a finished run printed.
        const list = TokenFile.parse(JSON.parse(readFileSync(file, 'utf8')));
        expect(list.tokens.length).toBeGreaterThanOrEqual(issued.length + 1); // the admin token too
        expect((await fetch(`${server.url}/v1/checkpoint`, { headers: { authorization: `Bearer ${admin}` } })).status).toBe(200);
      }
      expect(killed, 'no run was killed: the loop proved nothing').toBeGreaterThan(0);
      expect(issued.length, 'no run finished: the loop proved nothing').toBeGreaterThan(0);
      await new Promise((r) => setTimeout(r, 1100)); // the server looks at the file again after a second
      for (const token of issued) expect((await fetch(`${server.url}/v1/checkpoint`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
      expect(server.output()).not.toMatch(/not a valid token list|cannot be read/);
    } finally {
      await server.kill('SIGTERM');
    }
    // What the kills left: temporary files, never read. A restart removes them and serves the same tokens.
    const restarted = await spawnLedger(data);
    try {
      expect(readdirSync(data).filter((n) => n.includes('.tmp-'))).toEqual([]);
      for (const token of issued) expect((await fetch(`${restarted.url}/v1/checkpoint`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    } finally {
      await restarted.kill('SIGTERM');
    }
  });
});
