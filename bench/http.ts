/**
 * What the append benchmarks need around a ledger: a real `flashtrail serve` process (the compiled CLI, so
 * that the server has its own core and its own event loop, as in production), stations with tokens and keys,
 * and a keep-alive HTTP client that times each request.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, statSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { configFromEnv, initDataDir } from '../src/server/main.ts';
import { addToken } from '../src/api/tokens.ts';
import { readSecretKeyFile } from '../src/files/key-file.ts';
import { newSigner, type Signer } from '../src/crypto/ed25519.ts';
import { EventSigner, type SignedEvent } from '../src/event/signer.ts';
import { lineSetupEvents } from '../src/sim/line-setup.ts';
import { simulatedRelease, type ReleaseFirmware } from '../src/sim/simulated-station.ts';
import type { DsseEnvelope } from '../src/crypto/dsse.ts';

export interface BenchStation {
  readonly stationId: string;
  readonly token: string;
  readonly key: Signer;
  readonly signer: EventSigner;
}

export interface BenchServer {
  readonly url: string;
  readonly child: ChildProcess;
  /** CPU seconds the server process used so far (user + system, from /proc; null where there is none). */
  cpuSeconds(): number | null;
  /** CPU seconds of the server's main thread alone (HTTP, decode, decide, read side); null where there is no /proc. */
  mainThreadCpuSeconds(): number | null;
  /**
   * Resolves once the server's background work is done: its CPU time stops growing (under IDLE_CPU_MS in a
   * window of IDLE_WINDOW_MS). What a phase of appends leaves behind (the read model's, the Merkle log's and
   * the unit map's passes over the newest events, which lag the 201s by design) is then billed to that phase,
   * not to the next one measured. Gives up after `timeoutMs` and returns false.
   */
  settled(timeoutMs?: number): Promise<boolean>;
  /** The last lines the server logged (for a benchmark that failed). */
  logTail(lines?: number): string;
  stop(): Promise<void>;
}

/**
 * `flashtrail serve` from dist/ (npm run build first), logging as in production (info: a line per request)
 * into a file of the data directory, so that the benchmark process does not pay for reading the log.
 */
export async function serve(dataDir: string, env: Record<string, string>, nodeArgs: readonly string[] = [], startTimeoutMs = 30_000): Promise<BenchServer> {
  const logFile = join(dataDir, 'serve.log');
  // The log is appended to over runs on a kept data directory: this server's address is in what it writes.
  const from = existsSync(logFile) ? statSync(logFile).size : 0;
  const fd = openSync(logFile, 'a');
  const bin = fileURLToPath(new URL('../bin/flashtrail.js', import.meta.url));
  const child = spawn(process.execPath, [...nodeArgs, bin, 'serve', '--data', dataDir, '--port', '0'], { env: { ...process.env, FLASHTRAIL_LOG_LEVEL: 'info', ...env }, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  // A benchmark that dies must not leave its server running.
  const orphaned = () => child.kill('SIGKILL');
  process.once('exit', orphaned);
  child.once('exit', () => process.off('exit', orphaned));
  const deadline = Date.now() + startTimeoutMs;
  for (;;) {
    const match = /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(readFileSync(logFile).subarray(from).toString('utf8'));
    if (match) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      return {
        url: match[1] as string,
        child,
        cpuSeconds: () => processCpuSeconds(child.pid),
        mainThreadCpuSeconds: () => processCpuSeconds(child.pid, child.pid),
        settled: (timeoutMs = 30_000) => settled(() => processCpuSeconds(child.pid), timeoutMs),
        logTail: (lines = 5) => readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n'),
        stop: async () => {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
          await exited;
        },
      };
    }
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the ledger did not start:\n${readFileSync(logFile, 'utf8')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A window of this many ms in which the server used under IDLE_CPU_MS of CPU is a settled server. */
const IDLE_WINDOW_MS = 300;
/**
 * An idle ledger still ticks (the checkpointer's and the unit map's timers: about 5 ms of CPU a second,
 * measured); 20 ms in 300 is two clock ticks of /proc above that.
 */
const IDLE_CPU_MS = 20;

async function settled(cpuSeconds: () => number | null, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let last = cpuSeconds();
  if (last === null) return false;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, IDLE_WINDOW_MS));
    const now = cpuSeconds();
    if (now === null) return false;
    if ((now - last) * 1000 < IDLE_CPU_MS) return true;
    last = now;
  }
  return false;
}

/** utime + stime of a process (or of one of its threads), in seconds (Linux /proc; clock ticks are 100 Hz there). */
function processCpuSeconds(pid: number | undefined, thread?: number): number | null {
  try {
    const stat = readFileSync(thread === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${thread}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}

export interface BenchLedger {
  readonly server: BenchServer;
  readonly stations: readonly BenchStation[];
  readonly release: ReleaseFirmware;
}

/** A data directory with `stations` stations, a release and an open batch B-1, served by a child process. */
export async function startBenchLedger(dataDir: string, stations: number, env: Record<string, string> = {}, nodeArgs: readonly string[] = []): Promise<BenchLedger> {
  const config = configFromEnv({}, { dataDir });
  const init = initDataDir(config);
  const release = simulatedRelease('R-1', 'SENSOR-S3', '1.0.0');
  const list = Array.from({ length: stations }, (_, i) => {
    const stationId = `ST-${String(i + 1).padStart(2, '0')}`;
    const key = newSigner();
    return { stationId, key, token: addToken(config.tokensFile, { name: stationId, role: 'station', stationId }), signer: new EventSigner(key, stationId) };
  });
  const server = await serve(dataDir, env, nodeArgs);
  // Its own connection: an idle keep-alive connection is closed by the server after 5 s, and signing the
  // benchmark's events takes longer.
  const http = new KeepAliveClient(server.url, 1);
  const admin = new EventSigner(readSecretKeyFile(init.adminKeyFile), 'admin');
  const setup = lineSetupEvents(admin, { stations: list.map((s) => ({ stationId: s.stationId, key: s.key })), release, batch: { batchId: 'B-1', line: 'L1', plannedQuantity: 10_000_000 } });
  const answer = await http.post('/v1/admin/events', readFileSync(init.adminTokenFile, 'utf8').trim(), setup);
  http.close();
  if (answer.status !== 201) throw new Error(`line setup refused: ${answer.status} ${answer.body}`);
  return { server, stations: list, release };
}

/** One unit's whole passing flow, as a station signs it: scan → bootloader → app verified → provisioning → eFuses → shipped. */
export function unitFlow(station: BenchStation, release: ReleaseFirmware, serial: string): SignedEvent[] {
  const s = station.signer;
  const r = release;
  return [
    s.sign('UnitScanned', { serial, batchId: 'B-1', station: station.stationId, operator: 'op', productSku: r.productSku, hardwareRevision: 'rev-C' }),
    s.sign('BootloaderWritten', { serial, imageSha256: r.bootloader.sha256, version: r.bootloader.version, sizeBytes: r.bootloader.sizeBytes, signingKeyRef: 'sb-key', signingKeyDigest: r.signingKeyDigest }),
    s.sign('AppVerified', { serial, imageSha256: r.application.sha256, version: r.application.version, sizeBytes: r.application.sizeBytes, reportedSha256: r.application.sha256, method: 'device_report', result: 'pass' }),
    s.sign('ProvisioningApplied', { serial, templateId: r.provisioningTemplate.id, templateSha256: r.provisioningTemplate.sha256, configSha256: r.signingKeyDigest }),
    s.sign('EfuseBurned', { serial, profile: r.efuseProfile, fuses: [{ name: 'SECURE_BOOT_EN', value: '1' }], keyDigests: [r.signingKeyDigest], secureBoot: true, flashEncryption: true }),
    s.sign('UnitShipped', { serial, customer: 'ACME', orderRef: 'PO-1' }),
  ];
}

/** node:http with keep-alive connections (one per concurrent caller): less client overhead than fetch. */
export class KeepAliveClient {
  private readonly agent: Agent;
  private readonly url: URL;

  constructor(base: string, connections: number) {
    this.url = new URL(base);
    this.agent = new Agent({ keepAlive: true, maxSockets: connections });
  }

  post(path: string, token: string, envelopes: readonly DsseEnvelope[]): Promise<{ status: number; body: string }> {
    const body = JSON.stringify(envelopes);
    return new Promise((resolve, reject) => {
      const req = request(
        { host: this.url.hostname, port: this.url.port, path, method: 'POST', agent: this.agent, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** Appends and expects 201; returns the request's latency in ms. */
export async function timedAppend(http: KeepAliveClient, token: string, envelopes: readonly DsseEnvelope[]): Promise<number> {
  const t = performance.now();
  const answer = await http.post('/v1/events', token, envelopes);
  if (answer.status !== 201) throw new Error(`append refused: ${answer.status} ${answer.body}`);
  return performance.now() - t;
}
