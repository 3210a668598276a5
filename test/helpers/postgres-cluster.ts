/**
 * A throwaway PostgreSQL cluster for the tests: initdb into a temp directory, pg_ctl start on a free
 * loopback port, then one login role (`flashtrail`, not a superuser, as a ledger would run) and one
 * database it owns. The tests that need it get its addresses through inject('postgres'); without a
 * server they skip and print why. FLASHTRAIL_TEST_POSTGRES_URL (a superuser URL) uses a server you already
 * have instead.
 *
 * initdb refuses to run as root, so as root the cluster runs as the `postgres` user (Debian's package
 * creates it), the way pg_ctlcluster would.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { restartablePort } from './ports.ts';

export interface PostgresTarget {
  /** A superuser connection URL (CREATE DATABASE, role changes, bypassing the ledger's grants). */
  readonly adminUrl: string;
  /** The `flashtrail` role's URL template: `${base}/${database}`. */
  readonly roleBase: string;
}

export type PostgresAvailability = { readonly available: true; readonly target: PostgresTarget } | { readonly available: false; readonly reason: string };

declare module 'vitest' {
  export interface ProvidedContext {
    postgres: PostgresAvailability;
  }
}

/** Where initdb and pg_ctl are: on PATH, or in Debian's versioned directory when psql is on PATH. */
function serverBinaries(): { initdb: string; pgCtl: string } | string {
  const onPath = (name: string) => spawnSync(name, ['--version'], { stdio: 'ignore' }).status === 0;
  if (onPath('initdb') && onPath('pg_ctl')) return { initdb: 'initdb', pgCtl: 'pg_ctl' };
  // Debian keeps the server binaries off PATH; psql (postgresql-client) tells that PostgreSQL is installed.
  if (!onPath('psql')) return 'no PostgreSQL on this machine (neither initdb nor psql on PATH; apt-get install postgresql)';
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
  for (const v of versions) {
    const bin = join(root, v, 'bin');
    if (existsSync(join(bin, 'initdb')) && existsSync(join(bin, 'pg_ctl'))) return { initdb: join(bin, 'initdb'), pgCtl: join(bin, 'pg_ctl') };
  }
  return `psql is installed but no PostgreSQL server binaries (initdb, pg_ctl) were found under ${root}: apt-get install postgresql`;
}

export interface RunningCluster {
  readonly availability: PostgresAvailability;
  stop(): void;
  /** The server crashes (immediate shutdown: no checkpoint, crash recovery at the next start); absent for a given server. */
  crash?(): void;
  /** Starts the crashed server again, on the same port. */
  restart?(): void;
}

export async function startCluster(): Promise<RunningCluster> {
  const given = process.env['FLASHTRAIL_TEST_POSTGRES_URL'];
  if (given) return { availability: { available: true, target: await prepareRole(given) }, stop: () => undefined };
  const binaries = serverBinaries();
  if (typeof binaries === 'string') return { availability: { available: false, reason: binaries }, stop: () => undefined };

  const asRoot = process.getuid?.() === 0;
  const asUser = (cmd: string, args: string[]) => (asRoot ? spawnSync('runuser', ['-u', 'postgres', '--', cmd, ...args], { encoding: 'utf8' }) : spawnSync(cmd, args, { encoding: 'utf8' }));
  if (asRoot && spawnSync('id', ['-u', 'postgres'], { stdio: 'ignore' }).status !== 0) {
    return { availability: { available: false, reason: 'running as root, and there is no postgres user to run initdb as (apt-get install postgresql creates it)' }, stop: () => undefined };
  }
  const dir = mkdtempSync(join(tmpdir(), 'flashtrail-pg-'));
  if (asRoot) {
    const uid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim());
    const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim());
    chownSync(dir, uid, gid);
    chmodSync(dir, 0o700);
  }
  const data = join(dir, 'data');
  const remove = () => rmSync(dir, { recursive: true, force: true });
  const init = asUser(binaries.initdb, ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync']);
  if (init.status !== 0) {
    remove();
    return { availability: { available: false, reason: `initdb failed: ${(init.stderr || init.stdout || String(init.error)).trim().split('\n').pop()}` }, stop: () => undefined };
  }
  // Below the ephemeral range: crash() and restart() reuse it (ports.ts says why).
  const port = await restartablePort();
  // Durability stays on (fsync, synchronous_commit): the crash tests rely on it as production would.
  const options = `-c listen_addresses=127.0.0.1 -c port=${port} -c unix_socket_directories=${dir} -c max_connections=300`;
  const start = asUser(binaries.pgCtl, ['-D', data, '-o', options, '-l', join(dir, 'server.log'), '-w', '-t', '30', 'start']);
  if (start.status !== 0) {
    remove();
    return { availability: { available: false, reason: `pg_ctl start failed: ${(start.stderr || start.stdout).trim().split('\n').pop()}` }, stop: () => undefined };
  }
  const stop = () => {
    asUser(binaries.pgCtl, ['-D', data, '-m', 'immediate', '-w', 'stop']);
    remove();
  };
  const crash = () => {
    const r = asUser(binaries.pgCtl, ['-D', data, '-m', 'immediate', '-w', 'stop']);
    if (r.status !== 0) throw new Error(`pg_ctl stop -m immediate failed: ${r.stderr}`);
  };
  const restart = () => {
    const r = asUser(binaries.pgCtl, ['-D', data, '-o', options, '-l', join(dir, 'server.log'), '-w', '-t', '30', 'start']);
    if (r.status !== 0) throw new Error(`pg_ctl start failed: ${r.stderr}`);
  };
  try {
    return { availability: { available: true, target: await prepareRole(`postgres://postgres@127.0.0.1:${port}/postgres`) }, stop, crash, restart };
  } catch (error) {
    stop();
    return { availability: { available: false, reason: `the test cluster did not accept the setup: ${(error as Error).message}` }, stop: () => undefined };
  }
}

/** The ledger's role: may log in and create databases, nothing more. */
async function prepareRole(adminUrl: string): Promise<PostgresTarget> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const exists = await client.query("SELECT 1 FROM pg_roles WHERE rolname = 'flashtrail'");
    if (exists.rowCount === 0) await client.query("CREATE ROLE flashtrail LOGIN CREATEDB PASSWORD 'flashtrail'");
  } finally {
    await client.end();
  }
  const url = new URL(adminUrl);
  return { adminUrl, roleBase: `postgres://flashtrail:flashtrail@${url.host}` };
}
