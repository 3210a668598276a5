/**
 * A production line on one machine, for the station tests: a real ledger, pseudo-terminal pairs made with
 * socat for the scanner and the device's serial port, the scripted device (test/station/device.py) on the
 * far end of that port, the stand-in vendor tools on PATH, firmware built by test/station/mkfirmware.py, a
 * release approved as a recipe through `flashtrail station release`, and `flashtrail station run` as a real
 * process.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { ptyPair, socatAvailable, type PtyPair } from './pty.ts';
import { FLASHTRAIL_BIN, ROOT, runCli, type CliResult } from './cli.ts';
import type { TestLedger } from './ledger-fixture.ts';
import { STATION_TOOLS } from '../../station/templates.ts';

export const STAND_INS = join(ROOT, 'test', 'station');
/** Debian's python3 has python3-serial (the pyenv python3 on PATH does not). */
export const SYSTEM_PYTHON = '/usr/bin/python3';

/** Why the station tests cannot run here, or null. Probed without spawning anything that could fail loudly. */
export function stationTestsUnavailable(): string | null {
  if (!socatAvailable()) return 'socat is not installed (apt-get install socat)';
  const probe = spawnSync(SYSTEM_PYTHON, ['-c', 'import serial'], { stdio: 'ignore' });
  if (probe.error !== undefined || probe.status !== 0) return `${SYSTEM_PYTHON} cannot import serial (apt-get install python3-serial)`;
  return null;
}

/** The environment the station and its tools run in: the stand-ins first on PATH, the NVS generator module. */
export function lineEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: [join(STAND_INS, 'bin'), process.env['PATH'] ?? ''].join(delimiter),
    PYTHONPATH: join(STAND_INS, 'pylib'),
    TERM: 'xterm-256color', // the agent must take it away from esptool (it would turn on colours in a pipe)
    ...extra,
  };
}

export interface Manifest {
  readonly target: string;
  readonly images: Record<string, { file: string; offset: number; elf?: string; deliveredIn?: string }>;
  readonly secrets: Record<string, string>;
  readonly secureBootKeyDigest?: string;
}

export function buildFirmware(dir: string, target: 'esp32s3' | 'esp32' | 'lpc55s69', options: { version?: string; variant?: string } = {}): Manifest {
  const r = spawnSync(SYSTEM_PYTHON, [join(STAND_INS, 'mkfirmware.py'), '--target', target, '--out', dir, '--version', options.version ?? '3.0.0', '--variant', options.variant ?? ''], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mkfirmware failed: ${r.stderr}`);
  return JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest;
}

const RECIPE_OF = { esp32s3: 'esp32s3-sbv2-fe-host', esp32: 'esp32-dev', lpc55s69: 'lpc55s69-sb21' } as const;

/** Approves a release through `flashtrail station release` and opens a batch of it on line L1. */
export async function approveRecipeRelease(t: TestLedger, o: { fwDir: string; manifest: Manifest; releaseId: string; sku: string; batchId: string; template?: string; line?: string }): Promise<Record<string, unknown>> {
  const m = o.manifest;
  const args = ['station', 'release', '--recipe', RECIPE_OF[m.target as keyof typeof RECIPE_OF], '--id', o.releaseId, '--sku', o.sku, '--version', '3.0.0'];
  for (const [name, image] of Object.entries(m.images)) {
    args.push('--image', `${name}=${join(o.fwDir, image.file)}@0x${image.offset.toString(16)}`);
    if (image.elf) args.push('--elf', `${name}=${join(o.fwDir, image.elf)}`);
    if (image.deliveredIn) args.push('--in', `${name}=${image.deliveredIn}`);
  }
  if (m.secureBootKeyDigest) args.push('--secure-boot-key-digest', m.secureBootKeyDigest);
  if (o.template) args.push('--template', `tpl-${o.sku}=${o.template}`);
  const built = await runCli(args);
  if (built.code !== 0) throw new Error(`station release failed: ${built.stderr}`);
  const release = JSON.parse(built.stdout) as Record<string, unknown>;
  await t.adminClient.appendAdmin([
    t.admin.sign('ReleaseApproved', release as never).envelope,
    t.admin.sign('BatchOpened', { batchId: o.batchId, releaseId: o.releaseId, line: o.line ?? 'L1', productSku: o.sku, plannedQuantity: 100 }).envelope,
  ]);
  return release;
}

export interface ScriptedDevice {
  readonly port: PtyPair;
  readonly stateFile: string;
  readonly faultsFile: string;
  /** A new board in the fixture. */
  newBoard(identity: { mac?: string; uniqueId?: string; uid?: string }): void;
  faults(f: Record<string, unknown>): void;
  state(): { efuse: Record<string, number>; keys: Record<string, unknown>; flash: Record<string, string>; cmpa_sealed?: boolean; keystore?: Record<string, unknown> };
  stop(): void;
}

export async function startDevice(dir: string, chip: 'esp32s3' | 'esp32' | 'lpc55s69'): Promise<ScriptedDevice> {
  mkdirSync(dir, { recursive: true });
  const port = await ptyPair(dir, `${chip}-port`);
  const stateFile = join(dir, `${chip}-state.json`);
  const faultsFile = join(dir, `${chip}-faults.json`);
  const board = (identity: { mac?: string; uniqueId?: string; uid?: string }) =>
    writeFileSync(stateFile, JSON.stringify({ chip, mac: identity.mac ?? 'f4:12:fa:00:00:01', unique_id: identity.uniqueId ?? '0e3c55490a1b2c3d4e5f607182930001', uid: identity.uid ?? '0c1023417b563a50bc8660c7bd9e0001', efuse: {}, keys: {}, write_protected: [], flash: {} }));
  board({});
  writeFileSync(faultsFile, '{}');
  const child: ChildProcess = spawn(SYSTEM_PYTHON, [join(STAND_INS, 'device.py'), '--port', port.device, '--state', stateFile, '--faults', faultsFile], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  await new Promise((r) => setTimeout(r, 300));
  if (child.exitCode !== null) throw new Error(`the scripted device exited: ${stderr}`);
  return {
    port,
    stateFile,
    faultsFile,
    newBoard: board,
    faults: (f) => writeFileSync(faultsFile, JSON.stringify(f)),
    state: () => JSON.parse(readFileSync(stateFile, 'utf8')) as ReturnType<ScriptedDevice['state']>,
    stop: () => {
      child.kill();
      port.close();
    },
  };
}

/** A station.json for a recipe: the tool runs `station enroll` writes (station/templates.ts). */
export function stationConfig(o: {
  dir: string;
  stationId: string;
  recipe: keyof typeof STATION_TOOLS;
  ledgerUrl: string;
  tokenFile: string;
  keyFile: string;
  batchId: string;
  scanner: string;
  device?: string;
  fwDir?: string;
  manifest?: Manifest;
  template?: { id: string; file: string };
  extra?: Record<string, unknown>;
}): string {
  const m = o.manifest;
  const config = {
    stationId: o.stationId,
    fixture: 'JIG-7',
    keyFile: o.keyFile,
    dataDir: join(o.dir, `${o.stationId}-data`),
    ledger: { url: o.ledgerUrl, tokenFile: o.tokenFile },
    batchId: o.batchId,
    hardwareRevision: 'rev-C',
    ports: { scanner: { path: o.scanner, baudRate: 115200 }, ...(o.device ? { console: { path: o.device, baudRate: 115200 } } : {}) },
    ...(m && o.fwDir
      ? {
          images: Object.fromEntries(Object.entries(m.images).filter(([, i]) => !i.deliveredIn).map(([name, i]) => [name, join(o.fwDir as string, i.file)])),
          secrets: Object.fromEntries(Object.entries(m.secrets).map(([name, file]) => [name, join(o.fwDir as string, file)])),
          steps: STATION_TOOLS[o.recipe],
        }
      : {}),
    ...(o.template ? { templates: { [o.template.id]: o.template.file } } : {}),
    bootLog: { timeoutMs: 5000 },
    gate: { timeoutMs: 5000 },
    ...o.extra,
  };
  const file = join(o.dir, `${o.stationId}-${Math.random().toString(36).slice(2, 8)}.json`);
  writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

export interface StationProcess {
  readonly child: ChildProcess;
  readonly lines: string[];
  /** The first line matching, among those printed from line `from` on. */
  waitFor(pattern: RegExp, from?: number, timeoutMs?: number): Promise<string>;
  /** Waits for the one-line outcome of a unit (PASS, REWORK or not started) printed from line `from` on. */
  outcome(serial: string, from?: number, timeoutMs?: number): Promise<string>;
  kill(signal: NodeJS.Signals): Promise<void>;
  exited(): Promise<number | null>;
}

export function startStation(configFile: string, env: Record<string, string> = {}, ready: RegExp | null = /ready: batch/): Promise<StationProcess> {
  const child = spawn(process.execPath, [FLASHTRAIL_BIN, 'station', 'run', '--config', configFile], { env: { ...process.env, ...lineEnv(env) }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const waiters: { pattern: RegExp; resolve: (l: string) => void }[] = [];
  let buffer = '';
  const onData = (d: Buffer) => {
    buffer += d.toString();
    let nl;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      lines.push(line);
      for (const w of [...waiters])
        if (w.pattern.test(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const waitFor = (pattern: RegExp, from = 0, timeoutMs = 90_000) =>
    new Promise<string>((resolve, reject) => {
      const seen = lines.slice(from).find((l) => pattern.test(l));
      if (seen) return resolve(seen);
      const timer = setTimeout(() => reject(new Error(`station never printed ${pattern}; it printed:\n${lines.join('\n')}`)), timeoutMs);
      waiters.push({ pattern, resolve: (l) => (clearTimeout(timer), resolve(l)) });
    });
  const station: StationProcess = {
    child,
    lines,
    waitFor,
    outcome: (serial, from = 0, timeoutMs = 90_000) => waitFor(new RegExp(`^\\S+ ${serial.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}  (.*(PASS|→ REWORK: .*)|not started: .*)$`), from, timeoutMs),
    kill: (signal) =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill(signal);
      }),
    exited: () => exit,
  };
  if (!ready) return Promise.resolve(station);
  return Promise.race([station.waitFor(ready), exit.then((code) => Promise.reject(new Error(`station exited ${String(code)} before it was ready:\n${lines.join('\n')}`)))]).then(() => station);
}

export function station(args: readonly string[], env: Record<string, string> = {}): Promise<CliResult> {
  return runCli(['station', ...args], { env: lineEnv(env), timeoutMs: 60_000 });
}

export const scan = (scanner: PtyPair, line: string) => writeFileSync(scanner.device, `${line}\r\n`);
export { ptyPair, type PtyPair };
