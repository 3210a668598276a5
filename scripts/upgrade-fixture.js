// Writes the upgrade fixture: a real data directory written by an older flashtrail, and the evidence a relying
// party fetched from it before the upgrade. test/upgrade-*.int.test.ts start today's code on a copy of it.
//
//   node scripts/upgrade-fixture.js [COMMIT]        (default 811727d)
//
// It checks COMMIT out of this repository's history into a temporary directory (git archive, not a worktree:
// nothing in .git changes), runs that code from its TypeScript sources with this checkout's node_modules (its
// package.json must pin the same dependencies; it refuses otherwise), and writes test/fixtures/upgrade/<COMMIT>/:
//   ledger/     the data directory as that release left it, stopped (minus its lock files and ledger.url)
//   evidence/   what was fetched before the stop: the ledger and index-log verifier keys, the latest checkpoint
//               and index checkpoint, a shipped unit's provenance document, its SCITT receipt and the COSE key
//               set, a batch export (NDJSON)
//   fixture.json which commit wrote it, with which Node, when, and the serials and leaf the evidence is about
// Deterministic it is not (keys and times are fresh each run): regenerate, then commit the whole directory.
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(fileURLToPath(import.meta.url), '..', '..');
const commit = process.argv[2] ?? '811727d';
if (!/^[0-9a-f]{7,40}$/.test(commit)) fail(`${commit} is not a commit id (7 to 40 lowercase hex digits)`);
const full = git('rev-parse', `${commit}^{commit}`).trim();
const out = join(ROOT, 'test', 'fixtures', 'upgrade', commit);
const work = mkdtempSync(join(tmpdir(), `flashtrail-upgrade-${commit}-`));
const source = join(work, 'src');
const data = join(work, 'data');
const UNITS = 3;

function fail(message) {
  console.error(`upgrade-fixture: ${message}`);
  process.exit(1);
}
function git(...args) {
  return execFileSync('git', ['-C', ROOT, ...args], { encoding: 'utf8' });
}
function progress(message) {
  console.error(`upgrade-fixture: ${message}`);
}
/** The old CLI, from its sources through tsx (bin/dev.js), in the old tree. */
function oldCli(args, env = {}) {
  return execFileSync(process.execPath, [join(source, 'bin', 'dev.js'), ...args], { cwd: source, encoding: 'utf8', env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 26 });
}

try {
  mkdirSync(source);
  progress(`checking out ${full} into ${source}`);
  execFileSync('sh', ['-c', `git -C "${ROOT}" archive ${full} | tar -x -C "${source}"`]);
  const deps = (dir) => JSON.stringify((({ dependencies, devDependencies }) => ({ dependencies, devDependencies }))(JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))));
  if (deps(source) !== deps(ROOT)) fail(`${commit} pins other dependencies than this checkout: run it with its own npm ci instead`);
  symlinkSync(join(ROOT, 'node_modules'), join(source, 'node_modules'));

  progress(`flashing ${UNITS} simulated units with ${commit}'s code`);
  oldCli(['simulate', '--units', String(UNITS), '--stations', '1', '--no-drift', '--defect-rate', '0', '--seed', '1', '--data', data, '--json']);

  progress(`serving the data directory with ${commit}'s code to fetch evidence`);
  rmSync(join(data, 'ledger.url'), { force: true });
  const server = spawn(process.execPath, [join(source, 'bin', 'dev.js'), 'serve', '--data', data], { cwd: source, env: { ...process.env, FLASHTRAIL_PORT: '0', FLASHTRAIL_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise((resolve) => server.on('exit', resolve));
  try {
    const url = await waitForUrl(join(data, 'ledger.url'), exited);
    const token = readFileSync(join(data, 'admin.token'), 'utf8').trim();
    // What a release before some feature does not serve (404) is left out of the evidence; fixture.json lists what is in.
    const get = async (path, { optional = false } = {}) => {
      const r = await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${token}` } });
      if (optional && r.status === 404) return null;
      if (r.status !== 200) fail(`GET ${path} answered ${r.status}: ${await r.text()}`);
      return new Uint8Array(await r.arrayBuffer());
    };
    const text = async (path) => new TextDecoder().decode(await get(path));
    const evidence = join(work, 'evidence');
    mkdirSync(evidence);
    const save = (name, bytes) => {
      if (bytes) writeFileSync(join(evidence, name), bytes);
    };

    const units = JSON.parse(await text('/v1/units?limit=100'));
    const shipped = units.units.filter((u) => u.status === 'shipped').map((u) => u.serial).sort();
    if (shipped.length === 0) fail('the simulated batch shipped no unit');
    const serial = shipped[0];
    const batchId = units.units.find((u) => u.serial === serial).batchId;

    save('ledger.pub', await get('/v1/ledger/key'));
    save('ledger-pq.pub', await get('/v1/ledger/pq-key', { optional: true }));
    save('unit-map.vkey', await get('/v1/unit-map/key', { optional: true }));
    const provenance = await text(`/v1/units/${encodeURIComponent(serial)}/provenance`);
    save('provenance.json', provenance);
    const leafIndex = JSON.parse(provenance).entries.at(-1).leafIndex;
    save('receipt.cose', await get(`/entries/${leafIndex}`));
    save('scitt-keys.cbor', await get('/.well-known/scitt-keys'));
    save('checkpoint', await get('/v1/checkpoint'));
    save('unit-map.checkpoint', await get('/v1/unit-map/checkpoint', { optional: true }));
    oldCli(['export', '--batch', batchId, '--out', join(evidence, 'export.ndjson'), '--url', url, '--token-file', join(data, 'admin.token')]);
    for (const csv of readdirSync(evidence).filter((n) => n.endsWith('.csv'))) rmSync(join(evidence, csv));

    writeFileSync(join(work, 'fixture.json'), JSON.stringify({ commit: full, wroteWith: `node ${process.version}`, writtenAt: new Date().toISOString(), command: `node scripts/upgrade-fixture.js ${commit}`, units: UNITS, shipped, serial, batchId, receiptLeafIndex: leafIndex, evidence: readdirSync(evidence).sort() }, null, 2) + '\n');
  } finally {
    server.kill('SIGTERM');
    await exited;
  }
  // A stopped ledger's directory, as an operator would copy it for the upgrade.
  for (const name of ['ledger.url', 'lock.sqlite', 'lock.holder']) rmSync(join(data, name), { force: true });
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  cpSync(data, join(out, 'ledger'), { recursive: true });
  cpSync(join(work, 'evidence'), join(out, 'evidence'), { recursive: true });
  cpSync(join(work, 'fixture.json'), join(out, 'fixture.json'));
  progress(`wrote ${out}: ${readdirSync(join(out, 'ledger')).join(', ')}`);
} finally {
  rmSync(work, { recursive: true, force: true });
}

async function waitForUrl(file, exited) {
  let gone = false;
  void exited.then(() => (gone = true));
  for (let i = 0; i < 600; i++) {
    if (gone) fail('the old server exited before it served');
    if (existsSync(file)) {
      const url = readFileSync(file, 'utf8').trim();
      if (url) return url;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  fail('the old server did not write ledger.url within 60 s');
}
