/**
 * The Docker image's file set, without a Docker engine: this test reads the Dockerfile, rebuilds what its build
 * stage produces and what its runtime stage copies into a temporary directory, then runs the image's command
 * (`serve`) and `verify` from there. A file the image forgets (a source folder, the export worker, a runtime
 * dependency kept as a dev dependency) fails the suite on any machine.
 *
 * How each step is reproduced:
 * - COPY from the build context: the repository's files, minus what .dockerignore excludes.
 * - RUN npm ci: stood in for by a hard-linked copy of this checkout's node_modules, which `npm ci` installed from
 *   the same package-lock.json (asserted equal) and whose native modules are built for this machine; then the
 *   `prepare` script runs, as npm ci runs it. A real install would need the network and a compiler run.
 * - RUN npm run …, npm prune …: run as written, offline, in the stage's directory.
 * - RUN apt-get …, the /data volume set-up: system packages and directories; the test brings its own data dir.
 * - Any other RUN fails the test until it is taught what the step does.
 * - COPY --from=STAGE: from that stage's directory. ENV and CMD: used to start the server, with the data
 *   directory, host and port overridden for the test. The container's node (see FROM) is this machine's node.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSecretKeyFile } from '../src/files/key-file.ts';
import { newSigner } from '../src/crypto/ed25519.ts';
import { EventSigner } from '../src/event/signer.ts';
import { LedgerClient } from '../src/client/ledger-client.ts';
import { lineSetupEvents } from '../src/sim/line-setup.ts';
import { SimulatedStation, simulatedRelease } from '../src/sim/simulated-station.ts';
import { ROOT, linesOf } from './helpers/cli.ts';

interface Step {
  readonly op: string;
  readonly args: string;
}
interface Stage {
  readonly name: string | null;
  readonly image: string;
  readonly steps: Step[];
}

function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  const logical = text.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  for (const line of logical) {
    const [op, ...rest] = line.split(/\s+/);
    const args = rest.join(' ');
    if (op?.toUpperCase() === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      if (!m) throw new Error(`cannot read FROM ${args}`);
      stages.push({ image: m[1] as string, name: m[2] ?? null, steps: [] });
    } else {
      const stage = stages[stages.length - 1];
      if (!stage) throw new Error(`${line} before FROM`);
      stage.steps.push({ op: (op as string).toUpperCase(), args });
    }
  }
  return stages;
}

/** .dockerignore patterns as regular expressions over context-relative paths (a match excludes a whole subtree). */
function dockerignore(file: string): (path: string) => boolean {
  const patterns = existsSync(file) ? linesOf(readFileSync(file, 'utf8')).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#')) : [];
  const rules = patterns.map((p) => {
    const negate = p.startsWith('!');
    const glob = (negate ? p.slice(1) : p).replace(/^\/+|\/+$/g, '');
    const source = glob.split('/').map((part) => (part === '**' ? '.*' : part.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]'))).join('/');
    return { negate, re: new RegExp(`^${source.replace(/\.\*\//g, '(?:.*/)?')}(?:/.*)?$`) };
  });
  return (path) => rules.reduce((ignored, r) => (r.re.test(path) ? !r.negate : ignored), false);
}

function copyInto(from: string, to: string, ignored: (path: string) => boolean = () => false, contextRoot = from): void {
  cpSync(from, to, { recursive: true, filter: (src) => src === contextRoot || !ignored(relative(contextRoot, src)) });
}

/** `cp -al`: hard links, near-instant for node_modules; a plain copy where links cannot be made. */
function linkTree(from: string, to: string): void {
  mkdirSync(dirname(to), { recursive: true });
  if (spawnSync('cp', ['-al', from, to]).status !== 0) {
    rmSync(to, { recursive: true, force: true });
    cpSync(from, to, { recursive: true, verbatimSymlinks: true });
  }
  // npm rewrites this file in place: a private copy keeps the checkout's own untouched.
  const lock = join(to, '.package-lock.json');
  if (existsSync(lock)) {
    rmSync(lock);
    cpSync(join(from, '.package-lock.json'), lock);
  }
}

function sh(command: string, cwd: string): void {
  const r = spawnSync('sh', ['-c', command], { cwd, encoding: 'utf8', env: { ...process.env, npm_config_offline: 'true', npm_config_update_notifier: 'false' } });
  if (r.status !== 0) throw new Error(`RUN ${command} failed (${String(r.status)}):\n${r.stdout}\n${r.stderr}`);
}

interface BuiltImage {
  /** The runtime stage's /app. */
  readonly app: string;
  readonly env: Record<string, string>;
  readonly cmd: string[];
}

/** Plays the Dockerfile's stages into directories under `work`; returns the last (runtime) stage. */
function buildFileSet(work: string): BuiltImage {
  const stages = parseDockerfile(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
  const ignored = dockerignore(join(ROOT, '.dockerignore'));
  const roots = new Map<string, string>();
  let image: BuiltImage | null = null;
  stages.forEach((stage, index) => {
    const root = join(work, stage.name ?? `stage-${index}`);
    mkdirSync(root, { recursive: true });
    if (stage.name) roots.set(stage.name, root);
    let workdir = '/';
    const env: Record<string, string> = {};
    let cmd: string[] = [];
    const inStage = (path: string, base: string) => {
      const absolute = path.startsWith('/') ? path : join(workdir, path);
      if (!(absolute + '/').startsWith(workdir === '/' ? '/' : workdir + '/') && absolute !== workdir) throw new Error(`${path} is outside WORKDIR ${workdir}`);
      return join(base, relative(workdir, absolute));
    };
    for (const { op, args } of stage.steps) {
      if (op === 'WORKDIR') workdir = args;
      else if (op === 'COPY') {
        const words = args.split(/\s+/);
        const flags = words.filter((w) => w.startsWith('--'));
        const paths = words.filter((w) => !w.startsWith('--'));
        const dest = paths.pop() as string;
        const fromStage = flags.find((f) => f.startsWith('--from='))?.slice('--from='.length);
        const sourceRoot = fromStage === undefined ? ROOT : roots.get(fromStage);
        if (sourceRoot === undefined) throw new Error(`COPY --from=${String(fromStage)}: no such stage`);
        const target = inStage(dest, root);
        const intoDirectory = dest.endsWith('/') || paths.length > 1;
        for (const p of paths) {
          const source = fromStage === undefined ? join(ROOT, p) : inStage(p, sourceRoot);
          if (!existsSync(source)) throw new Error(`COPY ${p}: not in the ${fromStage === undefined ? 'build context' : `${fromStage} stage`}`);
          // Like Docker: a file goes into a directory destination by its name, a directory's contents go into the destination.
          const to = statSync(source).isDirectory() || !intoDirectory ? target : join(target, basename(source));
          if (fromStage === undefined) copyInto(source, to, ignored, ROOT);
          else if (basename(source) === 'node_modules') linkTree(source, to);
          else copyInto(source, to);
        }
      } else if (op === 'RUN') {
        if (/^apt-get\s/.test(args) || /^mkdir -p \/data\b/.test(args)) continue;
        if (/^npm ci\b/.test(args)) {
          expect(readFileSync(join(root, 'package-lock.json'), 'utf8')).toBe(readFileSync(join(ROOT, 'package-lock.json'), 'utf8'));
          linkTree(join(ROOT, 'node_modules'), join(root, 'node_modules'));
          const scripts = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts?: Record<string, string> }).scripts ?? {};
          if (scripts['prepare'] && !/--ignore-scripts/.test(args)) sh('npm run prepare', root);
        } else if (/^npm (run|prune)\s/.test(args)) sh(args, root);
        else throw new Error(`teach test/docker-fileset.int.test.ts what \`RUN ${args}\` does`);
      } else if (op === 'ENV') {
        for (const m of args.matchAll(/(\w+)=("[^"]*"|\S+)/g)) env[m[1] as string] = (m[2] as string).replace(/^"|"$/g, '');
      } else if (op === 'CMD') cmd = JSON.parse(args) as string[];
    }
    image = { app: inStage(workdir, root), env, cmd };
  });
  return image as unknown as BuiltImage;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name)) : [join(dir, e.name)]));
}

const work = mkdtempSync(join(tmpdir(), 'flashtrail-docker-'));
const data = join(work, 'data');
let image: BuiltImage;
let server: ChildProcess | null = null;
let url: string;
/** The container's environment: the Dockerfile's ENV, the test's data directory and a free loopback port. */
let env: Record<string, string>;

/** A command of the image, as `docker run IMAGE node bin/flashtrail.js …` would run it. */
function inImage(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['bin/flashtrail.js', ...args], { cwd: image.app, env, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(() => {
  image = buildFileSet(work);
  env = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: work, ...image.env, FLASHTRAIL_DATA_DIR: data, FLASHTRAIL_HOST: '127.0.0.1', FLASHTRAIL_PORT: '0', FLASHTRAIL_LOG_LEVEL: 'info' };
  // A whole tsc build from nothing, then the verifier package and the pages (esbuild): minutes on a busy 2-core machine.
}, 300_000);

afterAll(async () => {
  if (server && server.exitCode === null) {
    const exited = new Promise((r) => server?.once('exit', r));
    server.kill('SIGTERM');
    await exited;
  }
  rmSync(work, { recursive: true, force: true });
});

describe('the Docker image file set', () => {
  it('holds compiled JavaScript and production dependencies only', () => {
    expect(existsSync(join(image.app, 'dist', 'src', 'cli', 'main.js'))).toBe(true);
    expect(existsSync(join(image.app, 'dist', 'src', 'native', 'export-worker.js'))).toBe(true);
    expect(existsSync(join(image.app, 'src'))).toBe(false);
    const { devDependencies } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> };
    // @types/node stays: production dependencies (protobufjs, the KurrentDB client) depend on it themselves.
    const tools = Object.keys(devDependencies).filter((d) => !d.startsWith('@types/'));
    expect(tools).toContain('tsx');
    expect(tools.filter((d) => existsSync(join(image.app, 'node_modules', d)))).toEqual([]);
    expect(existsSync(join(image.app, 'node_modules', 'esbuild'))).toBe(false);
    // A `.ts` import left in compiled code would only fail when that line runs.
    const tsImports = filesUnder(join(image.app, 'dist'))
      .filter((f) => f.endsWith('.js'))
      .flatMap((f) => [...readFileSync(f, 'utf8').matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*)['"]([^'"]+\.m?ts)['"]/g)].map((m) => `${relative(image.app, f)}: ${m[1] as string}`));
    expect(tsImports).toEqual([]);
  });

  it('answers --version and --help', () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const v = inImage(['--version']);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toBe(`${version}\n`);
    const help = inImage(['--help']);
    expect(help.code, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/^ {2}serve +run the ledger API$/m);
  });

  it('a production install (npm ci --omit=dev runs prepare, without TypeScript) accepts a shipped dist/ and refuses to go on without one', () => {
    const install = join(work, 'production-install');
    mkdirSync(join(install, 'scripts'), { recursive: true });
    cpSync(join(ROOT, 'package.json'), join(install, 'package.json'));
    cpSync(join(ROOT, 'scripts', 'prepare.js'), join(install, 'scripts', 'prepare.js'));
    symlinkSync(join(image.app, 'node_modules'), join(install, 'node_modules'));
    const prepare = () => spawnSync(process.execPath, ['scripts/prepare.js'], { cwd: install, env, encoding: 'utf8' });
    const without = prepare();
    expect(without.status).toBe(1);
    expect(without.stderr).toMatch(/^flashtrail: TypeScript is not installed .* and there is no dist\/: /);
    symlinkSync(join(image.app, 'dist'), join(install, 'dist'));
    const withDist = prepare();
    expect(withDist.status, withDist.stderr).toBe(0);
    expect(withDist.stdout + withDist.stderr).toBe('');
  });

  it("starts with the image's command and answers /healthz", async () => {
    expect(image.cmd.slice(0, 2)).toEqual(['node', 'bin/flashtrail.js']);
    const init = inImage(['init']);
    expect(init.code, init.stderr).toBe(0);
    const station = inImage(['tokens', 'add', '--name', 'st-01', '--role', 'station', '--station', 'ST-01']);
    expect(station.code, station.stderr).toBe(0);
    writeFileSync(join(work, 'station.token'), station.stdout.trim() + '\n', { mode: 0o600 });
    const child = spawn(process.execPath, image.cmd.slice(1), { cwd: image.app, env, stdio: ['ignore', 'pipe', 'pipe'] });
    server = child;
    url = await new Promise<string>((resolve, reject) => {
      let output = '';
      const timer = setTimeout(() => reject(new Error(`serve did not listen within 20 s:\n${output}`)), 20_000);
      const onData = (d: Buffer) => {
        output += d.toString();
        const m = /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(output);
        if (m) {
          clearTimeout(timer);
          resolve(m[1] as string);
        }
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.once('exit', (code) => reject(new Error(`serve exited with ${String(code)}:\n${output}`)));
    });
    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
  });

  it('verifies a real provenance document and a real export with the image’s `flashtrail verify`', async () => {
    expect(url).toBeDefined();
    // Set up a line and flash a unit through the image's server, as a plant would.
    const adminToken = readFileSync(join(data, 'admin.token'), 'utf8').trim();
    const admin = new EventSigner(readSecretKeyFile(join(data, 'admin.key')), 'admin');
    const adminClient = new LedgerClient(url, adminToken);
    const stationKey = newSigner();
    const release = simulatedRelease('R-1', 'SENSOR-S3', '2.4.1');
    await adminClient.appendAdmin(lineSetupEvents(admin, { stations: [{ stationId: 'ST-01', key: stationKey }], release, batch: { batchId: 'B-1', line: 'L1', plannedQuantity: 10 } }));
    const stationClient = new LedgerClient(url, readFileSync(join(work, 'station.token'), 'utf8').trim());
    const simulated = new SimulatedStation(stationClient, new EventSigner(stationKey, 'ST-01'), { stationId: 'ST-01', operator: 'op-1', batchId: 'B-1', hardwareRevision: 'rev-C' }, release);
    await simulated.flash('SN-DOCKER-1', 'pass');
    const provenance = join(work, 'SN-DOCKER-1.provenance.json');
    writeFileSync(provenance, JSON.stringify(await adminClient.get('/v1/units/SN-DOCKER-1/provenance')));

    const verifierKey = /verifier key \(give it to auditors\):\n\s+(\S+)/.exec(inImage(['init']).stdout)?.[1] as string;
    const verified = inImage(['verify', provenance, '--ledger-key', verifierKey]);
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
    expect(verified.stdout).toMatch(/^verified: \d+ events by ST-01/m);

    // An export goes through the worker threads: their compiled file must be in the image too.
    const exported = join(work, 'B-1.ndjson');
    const exportRun = inImage(['export', '--url', url, '--token-file', join(data, 'admin.token'), '--batch', 'B-1', '--out', exported]);
    expect(exportRun.code, exportRun.stderr).toBe(0);
    const exportVerified = inImage(['verify', exported, '--ledger-key', verifierKey, '--workers', '2']);
    expect(exportVerified.code, exportVerified.stdout + exportVerified.stderr).toBe(0);
    expect(exportVerified.stdout).toMatch(/^verified: 1 units, \d+ events/m);
  });
});
