/**
 * The compiled command line's surface: help for every command and subcommand (without running it), the version,
 * one-line usage errors naming what was wrong, and lazy loading: `--help` and `verify` load no server code.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMANDS } from '../src/cli/registry.ts';
import { ENVIRONMENT } from '../src/cli/help.ts';
import { ROOT, linesOf, runCli, type CliResult } from './helpers/cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'flashtrail-cli-help-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Which modules a run loads: a module hook (test/helpers/record-modules.mjs) records every resolved URL. HEAVY
 * is what a `--help` and an auditor's `verify` must never pay for: the server and its stores, the station agent,
 * the KurrentDB gRPC client, serialport, SQLite, the logger, and any TypeScript transpiler.
 */
const HEAVY = [
  /\/dist\/src\/(server\/main|store|api|write|read)[/.]/,
  /\/dist\/station\//,
  /\/node_modules\/(hono|@hono|@kurrent|@grpc|serialport|@serialport|better-sqlite3|pino|tsx|esbuild|typescript)\//,
  /\.ts$/,
];
const heavyIn = (modules: string[]) => modules.filter((m) => HEAVY.some((h) => h.test(m)));
const hook = pathToFileURL(join(ROOT, 'test', 'helpers', 'record-modules.mjs')).href;

async function modulesLoadedBy(args: string[], options: { cwd?: string } = {}): Promise<{ r: CliResult; modules: string[] }> {
  const record = join(dir, `modules-${Math.random().toString(36).slice(2)}.txt`);
  const r = await runCli(args, { ...options, nodeArgs: ['--import', hook], env: { FLASHTRAIL_RECORD_MODULES: record } });
  const modules = [...new Set(linesOf(readFileSync(record, 'utf8')))];
  rmSync(record);
  return { r, modules };
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const groups = [...new Set(COMMANDS.filter((c) => c.name.includes(' ')).map((c) => c.name.split(' ')[0] as string))];

describe('flashtrail --help and --version', () => {
  it('--help, -h, help and no arguments print every command and every environment variable, exit 0', async () => {
    for (const args of [['--help'], ['-h'], ['help'], []]) {
      const r = await runCli(args);
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.stderr).toBe('');
      for (const c of COMMANDS) expect(r.stdout).toMatch(new RegExp(`^  ${c.name} +${escape(c.summary)}$`, 'm'));
      for (const [name] of ENVIRONMENT) expect(r.stdout).toMatch(new RegExp(`^  ${name}\\b`, 'm'));
    }
  });

  it('--version and -V print the version of package.json', async () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const r = await runCli([flag]);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(`${version}\n`);
    }
  });

  it('every command and subcommand answers --help and -h with its own usage, does nothing else, and loads nothing heavy', async () => {
    const cwd = mkdtempSync(join(dir, 'help-'));
    const untouched = join(cwd, 'never-created');
    const schemasDir = join(ROOT, 'schemas', 'json');
    const schemaTimes = () => readdirSync(schemasDir).map((f) => `${f}@${statSync(join(schemasDir, f)).mtimeMs}`).join();
    const schemasBefore = schemaTimes();
    const runs = COMMANDS.flatMap((c) => ['--help', '-h'].map((flag) => ({ c, flag })));
    // Two at a time: node's start-up dominates, and the machine may have only two cores.
    for (let i = 0; i < runs.length; i += 2) {
      await Promise.all(
        runs.slice(i, i + 2).map(async ({ c, flag }) => {
          // --data, --out and --config would be used if the command ran: help must win over all of them.
          const args = [...c.name.split(' '), flag, '--data', untouched, '--out', untouched, '--config', untouched];
          if (flag === '-h') return expectHelp(c, flag, await runCli(args, { cwd }));
          const { r, modules } = await modulesLoadedBy(args, { cwd });
          expect(heavyIn(modules), c.name).toEqual([]);
          expectHelp(c, flag, r);
        }),
      );
    }
    expect(existsSync(untouched)).toBe(false);
    expect(readdirSync(cwd)).toEqual([]);
    expect(schemaTimes()).toBe(schemasBefore);
    // Two node start-ups per command: the bound grows with the registry (a loaded two-core machine takes seconds each).
  }, COMMANDS.length * 6_000);

  function expectHelp(c: (typeof COMMANDS)[number], flag: string, r: CliResult): void {
    {
      expect(r.code, `${c.name} ${flag}: ${r.stderr}`).toBe(0);
      expect(r.stderr, c.name).toBe('');
      expect(r.stdout.split('\n')[0], c.name).toMatch(new RegExp(`^usage: flashtrail ${c.name}( |$)`));
      expect(r.stdout).toContain(c.summary.slice(1));
      expect(r.stdout).toMatch(/^ {2}-h, --help +show this help$/m);
    }
  }

  it('a group answers --help with its subcommands', async () => {
    for (const group of groups) {
      const r = await runCli([group, '--help']);
      expect(r.code).toBe(0);
      for (const c of COMMANDS.filter((e) => e.name.startsWith(`${group} `))) expect(r.stdout).toContain(`  ${c.name.slice(group.length + 1)} `);
    }
  });

  it('help COMMAND is COMMAND --help', async () => {
    const a = await runCli(['help', 'station', 'run']);
    const b = await runCli(['station', 'run', '--help']);
    expect(a.code).toBe(0);
    expect(a.stdout).toBe(b.stdout);
    expect(a.stdout).toMatch(/^usage: flashtrail station run --config/);
  });
});

describe.concurrent('usage errors: one line naming what is wrong, exit 2', () => {
  const cases: [args: string[], line: string][] = [
    [['frobnicate'], 'flashtrail: unknown command frobnicate; see flashtrail --help'],
    [['--frobnicate'], 'flashtrail: unknown option --frobnicate for `flashtrail`; see flashtrail --help'],
    [['station', 'frobnicate'], 'flashtrail: unknown subcommand frobnicate for `flashtrail station`; see flashtrail station --help'],
    [['station'], 'flashtrail: `flashtrail station` needs a subcommand: init, run, status, enroll, release, rework, scrap, ship, requeue; see flashtrail station --help'],
    [['verify', 'x.json', '--foo'], 'flashtrail: unknown option --foo for `flashtrail verify`; see flashtrail verify --help'],
    [['station', 'run', '-x'], 'flashtrail: unknown option -x for `flashtrail station run`; see flashtrail station run --help'],
    [['verify', 'x.json'], 'flashtrail: `flashtrail verify` needs --ledger-key KEY|@FILE; see flashtrail verify --help'],
    [['verify', '--ledger-key', 'k'], 'flashtrail: `flashtrail verify` needs FILE; see flashtrail verify --help'],
    [['verify', 'a', 'b', '--ledger-key', 'k'], 'flashtrail: unexpected argument b for `flashtrail verify`; see flashtrail verify --help'],
    [['verify', 'a', '--ledger-key'], 'flashtrail: --ledger-key needs a value (KEY|@FILE); see flashtrail verify --help'],
    [['verify', 'a', '--ledger-key', 'k', '--json=yes'], 'flashtrail: --json takes no value; see flashtrail verify --help'],
    [['keys', 'generate', '--out', '--comment', 'c'], 'flashtrail: --out needs a value (FILE); see flashtrail keys generate --help'],
    [['demo', '--units', 'many'], 'flashtrail: --units must be a whole number from 1 to 10000, not many; see flashtrail demo --help'],
    [['serve', '--port', '70000'], 'flashtrail: --port must be a whole number from 0 to 65535, not 70000; see flashtrail serve --help'],
    [['tokens', 'add', '--name', 'n', '--role', 'root'], 'flashtrail: --role must be station, auditor or admin, not root; see flashtrail tokens add --help'],
    [['admin', 'submit', 'Frobnicated', '-'], 'flashtrail: TYPE must be one of StationRegistered, StationKeyRegistered, StationKeyRevoked, ReleaseApproved, BatchOpened, BatchClosed, SbomAttached, SupportPeriodSet, VulnerabilityAssessed, VulnerabilityAwareness, CraReportSubmitted, not Frobnicated; see flashtrail admin submit --help'],
    [['export', '--out', 'x.ndjson', '--batch', 'B', '--url', 'ftp://x'], 'flashtrail: --url must be an http or https URL, not ftp://x; see flashtrail export --help'],
    [['migrate', '--from', 'events.sqlite', '--to', 'esdb://x:2113'], 'flashtrail: --from must be sqlite:PATH, postgres://USER@HOST/DATABASE[?schema=S] or kurrentdb://HOST:2113?tls=false (also esdb://), not events.sqlite; see flashtrail migrate --help'],
  ];
  for (const [args, line] of cases) {
    it(`flashtrail ${args.join(' ')}`, async () => {
      const r = await runCli(args, { cwd: dir });
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe(`${line}\n`);
    });
  }
});

describe('commands load lazily', () => {
  let provenance: string;
  let verifierKey: string;

  beforeAll(async () => {
    const demo = await runCli(['demo', '--units', '2', '--batch-units', '0', '--data', join(dir, 'demo')]);
    expect(demo.code, demo.stderr).toBe(0);
    verifierKey = /ledger verifier key \(auditors pin this\): (\S+)/.exec(demo.stdout)?.[1] as string;
    provenance = /\$ flashtrail verify (\S+)/.exec(demo.stdout)?.[1] as string;
    expect(verifierKey).toBeTruthy();
  });

  it('--help loads the command line and the registry, and no command', async () => {
    const { r, modules } = await modulesLoadedBy(['--help']);
    expect(r.code).toBe(0);
    expect(modules).toContain(pathToFileURL(join(ROOT, 'dist', 'src', 'cli', 'registry.js')).href);
    expect(modules.filter((m) => m.includes('/dist/') && !/\/dist\/src\/cli\/[^/]+\.js$/.test(m))).toEqual([]);
    expect(modules.filter((m) => m.includes('/node_modules/'))).toEqual([]);
  });

  it('verify of a real provenance document loads the verifier, and nothing of the server, stores, serialport or tsx', async () => {
    const { r, modules } = await modulesLoadedBy(['verify', provenance, '--ledger-key', verifierKey]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^verified: /m);
    expect(modules).toContain(pathToFileURL(join(ROOT, 'dist', 'src', 'verify', 'provenance.js')).href);
    expect(heavyIn(modules)).toEqual([]);
    expect(modules.filter((m) => /\/dist\/src\/(server|sim|domain|evidence)\//.test(m))).toEqual([]);
  });

  it('the recorder sees what a server command loads (so the lists above can fail)', async () => {
    const { r, modules } = await modulesLoadedBy(['projections', 'rebuild', '--data', join(dir, 'demo')]);
    expect(r.code, r.stderr).toBe(0);
    expect(heavyIn(modules).length).toBeGreaterThan(0);
    expect(modules.some((m) => m.includes('/node_modules/better-sqlite3/'))).toBe(true);
  });
});
