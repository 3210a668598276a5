/**
 * The README's "CRA day one" walk-through, run as written: the shell block between its markers, in bash, with
 * `flashtrail` the shipped command line (dist/), against a real ledger holding the line of
 * test/helpers/cra-line.ts. What the commands wrote is then checked: the units carrying mbedTLS now and as
 * shipped, the notification list per customer (CSV and ledger-signed), the ENISA content, the CSAF document,
 * the deadlines.
 */
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestLedger, type TestLedger } from './helpers/ledger-fixture.ts';
import { setUpCraLine } from './helpers/cra-line.ts';
import { FLASHTRAIL_BIN, ROOT } from './helpers/cli.ts';
import { verifyEnvelopeSignature } from '../src/crypto/dsse.ts';
import { fromBase64 } from '../src/crypto/encoding.ts';
import { parseVerifierKey } from '../src/tlog/note.ts';
import { openSignedDocument } from '../src/cra/sign.ts';
import { validateDocument } from '../src/cra/schema-validation.ts';

const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
const block = /<!-- cra-day-one:begin -->\n```sh\n([\s\S]*?)```\n<!-- cra-day-one:end -->/.exec(readme)?.[1];

let t: TestLedger;
let work: string;
let run: { status: number | null; stdout: string; stderr: string; error?: Error };

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'flashtrail-cra-readme-'));
  t = await startTestLedger({ setup: false, dataDir: join(work, 'data') });
  await setUpCraLine(t, { attachSboms: false });
  for (const f of ['sensor-fw-2.3.0.cdx.json', 'sensor-fw-2.4.0.spdx']) copyFileSync(join(ROOT, 'test', 'fixtures', 'cra', f), join(work, f));
  // `flashtrail` on the PATH is the shipped command line, as `npm install -g` would put it there.
  const bin = join(work, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'flashtrail'), `#!/bin/sh\nexec "${process.execPath}" "${FLASHTRAIL_BIN}" "$@"\n`);
  chmodSync(join(bin, 'flashtrail'), 0o755);
  // Asynchronously: the ledger runs in this process and must keep answering.
  run = await new Promise((resolve) => {
    const child = spawn('bash', ['-e', '-o', 'pipefail', '-c', block ?? 'exit 99'], {
      cwd: work,
      env: { ...process.env, PATH: `${bin}:${process.env['PATH'] ?? ''}`, FLASHTRAIL_HOST: '127.0.0.1', FLASHTRAIL_PORT: String(t.running.port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 180_000);
    child.once('error', (error) => resolve({ status: null, stdout, stderr, error }));
    child.once('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}, 240_000);

afterAll(async () => {
  await t?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

const file = (name: string) => readFileSync(join(work, name), 'utf8');
const csvSerials = (name: string) =>
  file(name)
    .split('\r\n')
    .filter(Boolean)
    .slice(1)
    .map((l) => l.split(',')[0]);

describe('README: CRA day one', () => {
  it('the block is there and runs to the end', () => {
    expect(block).toBeDefined();
    expect(run.error).toBeUndefined();
    expect(run.stderr, run.stdout).toBe('');
    expect(run.status).toBe(0);
  });

  it('units carrying mbedTLS in the vulnerable range, now and as shipped', () => {
    expect(csvSerials('carrying-now.csv')).toEqual(['SN-A1', 'SN-A3', 'SN-B1', 'SN-B2', 'SN-C1', 'SN-C3']);
    expect(csvSerials('carrying-as-shipped.csv')).toEqual(['SN-A1', 'SN-A2', 'SN-A3', 'SN-B1', 'SN-B2', 'SN-C1', 'SN-C2', 'SN-C3']);
    const report = JSON.parse(file('tr03183-ES300-2.4.0.json')) as { formatAccepted: boolean; documentMissing: string[] };
    expect([report.formatAccepted, report.documentMissing]).toEqual([false, ['creator']]);
  });

  it('the notification list per customer, as CSV and signed by the ledger key', () => {
    expect(csvSerials('CVE-2024-23775-customers.csv')).toEqual(['SN-A1', 'SN-A3', 'SN-B1', 'SN-B2', 'SN-C1', 'SN-C3']);
    const envelope = JSON.parse(file('CVE-2024-23775-customers.dsse.json')) as { payloadType: string; payload: string; signatures: { keyid: string; sig: string }[] };
    expect(verifyEnvelopeSignature(envelope, parseVerifierKey(t.running.identity.verifierKey).publicKey)).toBe(true);
    const list = JSON.parse(new TextDecoder().decode(fromBase64(envelope.payload))) as { customers: { customer: string; serials: string[] }[] };
    expect(list.customers.map((c) => [c.customer, c.serials])).toEqual([
      ['ACME Robotics', ['SN-A1', 'SN-A3']],
      ['Borealis Energy', ['SN-B1', 'SN-B2']],
      ['Cirrus Medical', ['SN-C1', 'SN-C3']],
    ]);
  });

  it('the ENISA early-warning content, the CSAF document and the filled-in deadlines', () => {
    const early = file('early-warning.txt');
    expect(early).toContain('Manufacturer [Art. 14(1)]:\n  Example Sensors GmbH');
    expect(early).toContain('Affected units [Art. 14(2)(a)]:\n  6 (ACME Robotics: 2; Borealis Energy: 2; Cirrus Medical: 2)');
    const csaf = openSignedDocument('csaf', JSON.parse(file('vex-csaf.dsse.json')), parseVerifierKey(t.running.identity.verifierKey).publicKey);
    expect(validateDocument('csaf-2.0', csaf)).toEqual({ valid: true, problems: [] });
    const out = run.stdout;
    const last = out.slice(out.lastIndexOf('CVE-2024-23775  aware since'));
    expect(last).toMatch(/early_warning .* ON_TIME +submitted /);
    expect(last).toMatch(/notification .* DUE/);
    expect(last).toMatch(/final_report .* DUE/);
  });

  it('cra clock lists each notification list produced, by the SHA-256 of what was handed out', () => {
    const last = run.stdout.slice(run.stdout.lastIndexOf('CVE-2024-23775  aware since'));
    const produced = last.split('\n').filter((l) => l.includes('notification list produced'));
    const csvSha = createHash('sha256').update(readFileSync(join(work, 'CVE-2024-23775-customers.csv'))).digest('hex');
    const envelope = JSON.parse(file('CVE-2024-23775-customers.dsse.json')) as { payload: string };
    const payloadSha = createHash('sha256').update(fromBase64(envelope.payload)).digest('hex');
    expect(produced).toHaveLength(2);
    expect(produced[0]).toMatch(new RegExp(`for \\S+ \\(admin\\): 6 units, 3 customers, now, csv sha256 ${csvSha}, as of checkpoint \\d+$`));
    expect(produced[1]).toMatch(new RegExp(`: 6 units, 3 customers, now, dsse sha256 ${payloadSha}, as of checkpoint \\d+$`));
  });
});
