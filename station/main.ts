/** Composition root of the station agent: `flashtrail station init | enroll | run | status | requeue | rework | scrap | ship`. */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadStationConfig, StationConfigError, type StationConfig } from './config.ts';
import { Outbox } from './outbox.ts';
import { Sender } from './sender.ts';
import { DevicePort, openScanner } from './serial.ts';
import { StationAgent } from './agent.ts';
import { EvidenceStore } from './evidence.ts';
import { preflight, type BatchFacts } from './preflight.ts';
import { describeDelivery, recordLifecycle, type LifecycleAction } from './lifecycle.ts';
import { readSecretKeyFile, writeSecretKeyFile } from '../src/files/key-file.ts';
import { newSigner } from '../src/crypto/ed25519.ts';
import { EventSigner } from '../src/event/signer.ts';
import { LedgerClient, LedgerClientError, LedgerUnreachableError } from '../src/client/ledger-client.ts';
import { toHex } from '../src/crypto/encoding.ts';
import { isRecipeRelease, type ApprovedRelease, type RecipeRelease } from '../src/domain/recipe.ts';

const outboxFile = (dataDir: string) => {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  return join(dataDir, 'outbox.sqlite');
};

/** Creates the station key (0600) and prints what an administrator registers. */
export function stationInit(stationId: string, keyFile: string, line: string, out: (s: string) => void): void {
  const key = newSigner();
  writeSecretKeyFile(keyFile, key, `flashtrail station ${stationId}`);
  out(`created ${keyFile} (mode 0600). Ask an administrator to register this station and key (or use flashtrail station enroll):`);
  out(`  echo '${JSON.stringify({ stationId, line, site: 'Plant 1', role: 'flash' })}' | flashtrail admin submit StationRegistered -`);
  out(`  echo '${JSON.stringify({ stationId, keyId: key.keyId, publicKey: toHex(key.publicKey), algorithm: 'ed25519' })}' | flashtrail admin submit StationKeyRegistered -`);
}

/** A client that reads the token file again when asked (after the ledger refused the token). */
function tokenClient(config: StationConfig): { current: () => LedgerClient; reload: () => void } {
  const read = () => readFileSync(config.ledger.tokenFile, 'utf8').trim();
  let token = read();
  let client = new LedgerClient(config.ledger.url, token);
  return {
    current: () => client,
    reload: () => {
      try {
        const next = read();
        if (next !== token) {
          token = next;
          client = new LedgerClient(config.ledger.url, token);
        }
      } catch {
        // keep the token we have; the next refusal tries again
      }
    },
  };
}

interface StationParts {
  readonly config: StationConfig;
  readonly outbox: Outbox;
  readonly sender: Sender;
  readonly signer: EventSigner;
  readonly client: () => LedgerClient;
  readonly clock: () => Date;
}

function parts(configFile: string, out: (s: string) => void): StationParts {
  const config = loadStationConfig(configFile);
  const key = readSecretKeyFile(config.keyFile);
  const tokens = tokenClient(config);
  const outbox = new Outbox(outboxFile(config.dataDir));
  const clock = () => new Date();
  const sender = new Sender({
    outbox,
    client: tokens.current,
    clock,
    onRejected: (eventId, type, stream, reason) => out(`LEDGER REFUSED ${type} of ${stream} (${eventId}): ${reason}`),
    reauthorize: tokens.reload,
    onConnection: (connection, detail) => {
      out(
        connection === 'online'
          ? `ledger reachable: delivering ${outbox.counts().pending} pending event(s)`
          : connection === 'unauthorized'
            ? `the ledger refuses this station's token (${detail}); events are kept in the outbox. Fix ${config.ledger.tokenFile}; it is read again before the next try`
            : `ledger unreachable: events are kept in the outbox (${config.dataDir})`,
      );
    },
  });
  return { config, outbox, sender, signer: new EventSigner(key, config.stationId, clock), client: tokens.current, clock };
}

/** The batch and its release: from the ledger, cached in the outbox for a start while it is away. */
async function batchAndRelease(p: StationParts): Promise<{ batch: BatchFacts; release: RecipeRelease }> {
  const { config, outbox } = p;
  const cacheKey = `batch-release:${config.batchId}`;
  let found: { batch: BatchFacts; release: ApprovedRelease } | null = null;
  try {
    const b = await p.client().get<{ status: 'open' | 'closed'; batch: { batchId: string; releaseId: string; line: string; productSku: string } }>(`/v1/batches/${encodeURIComponent(config.batchId)}`);
    const r = await p.client().get<{ release: ApprovedRelease }>(`/v1/releases/${encodeURIComponent(b.batch.releaseId)}`);
    found = { batch: { ...b.batch, status: b.status }, release: r.release };
    outbox.setMeta(cacheKey, JSON.stringify(found));
  } catch (error) {
    if (error instanceof LedgerClientError && error.status === 404) throw new StationConfigError(`batchId: the ledger at ${config.ledger.url} has no batch ${config.batchId} (${error.problem.detail})`);
    if (error instanceof LedgerClientError && (error.status === 401 || error.status === 403)) throw new StationConfigError(`ledger.tokenFile: the ledger refuses the token in ${config.ledger.tokenFile} (${error.status} ${error.problem.code})`);
    if (!(error instanceof LedgerUnreachableError) && !(error instanceof LedgerClientError)) throw error;
    const cached = outbox.getMeta(cacheKey);
    if (!cached) throw new StationConfigError(`the ledger is unreachable (${error.message}) and no release of batch ${config.batchId} is cached here: start once with the ledger reachable`);
    found = JSON.parse(cached) as { batch: BatchFacts; release: ApprovedRelease };
  }
  if (!isRecipeRelease(found.release)) {
    throw new StationConfigError(`release ${found.batch.releaseId} of batch ${config.batchId} is a version 1 release without a recipe; approve the release as a recipe (flashtrail station release)`);
  }
  return { batch: found.batch, release: found.release };
}

export async function stationRun(configFile: string, out: (s: string) => void): Promise<{ stop(): Promise<void>; agent: StationAgent }> {
  const p = parts(configFile, out);
  const { config, outbox, sender } = p;
  let closing: (() => Promise<void>)[] = [async () => outbox.close()];
  try {
    // What can be checked here is checked before the ledger is asked (a missing port, not an unreachable ledger).
    for (const [name, port] of [['ports.scanner.path', config.ports.scanner.path], ...(config.ports.console ? [['ports.console.path', config.ports.console.path]] : [])] as const) {
      if (!existsSync(port)) throw new StationConfigError(`${name}: ${port}: no such file or directory`);
    }
    const { batch, release } = await batchAndRelease(p);
    const problems = preflight(config, release, batch);
    if (problems.length > 0) throw new StationConfigError(`${configFile} cannot run batch ${config.batchId} (release ${release.releaseId}):\n${problems.map((x) => `  ${x}`).join('\n')}`);
    const scanner = await openScanner(config.ports.scanner.path, config.ports.scanner.baudRate);
    closing = [() => scanner.close(), ...closing];
    // The device port is opened only to read a boot log (station/serial.ts); the preflight checked it exists.
    let device: DevicePort | null = null;
    if (config.ports.console) {
      device = new DevicePort(config.ports.console.path, config.ports.console.baudRate);
      const d = device;
      closing = [() => d.close(), ...closing];
    }
    const pending = outbox.counts().pending;
    if (pending > 0) out(`${pending} event(s) from an earlier run are pending: delivering them first`);
    sender.start();
    const agent = new StationAgent({ config, release, batch, signer: p.signer, client: p.client, outbox, sender, scanner, device, evidence: new EvidenceStore(config.dataDir), clock: p.clock, out });
    agent.start();
    return {
      agent,
      stop: async () => {
        await agent.idle();
        await sender.stop();
        for (const close of closing) await close();
      },
    };
  } catch (error) {
    for (const close of closing) await close().catch(() => undefined);
    throw error;
  }
}

export function stationStatus(configFile: string, out: (s: string) => void): number {
  const config = loadStationConfig(configFile);
  const outbox = new Outbox(outboxFile(config.dataDir));
  try {
    const c = outbox.counts();
    out(`station ${config.stationId}: ${c.pending} pending, ${c.delivered} delivered, ${c.rejected} rejected`);
    for (const e of outbox.pending(1000)) out(`  pending   ${e.type.padEnd(20)} ${e.stream}  attempts ${e.attempts}${e.lastError ? `  last error: ${e.lastError}` : ''}`);
    for (const e of outbox.rejected()) out(`  REJECTED  ${e.type.padEnd(20)} ${e.stream}  ${e.lastError ?? ''}`);
    if (c.rejected > 0) out(`  after fixing the cause: flashtrail station requeue --config ${configFile}`);
    return c.rejected > 0 ? 1 : 0;
  } finally {
    outbox.close();
  }
}

/** Puts rejected events back in the queue and delivers; exit 1 when some are refused again. */
export async function stationRequeue(configFile: string, serial: string | undefined, out: (s: string) => void): Promise<number> {
  const p = parts(configFile, out);
  try {
    const n = p.outbox.requeueRejected(serial === undefined ? undefined : `unit-${serial}`);
    out(`${n} rejected event(s) put back in the queue${serial ? ` for unit ${serial}` : ''}`);
    const empty = await p.sender.flush();
    const c = p.outbox.counts();
    out(`station ${p.config.stationId}: ${c.pending} pending, ${c.delivered} delivered, ${c.rejected} rejected${empty ? '' : ' (the ledger was not reached; the running agent or the next requeue delivers them)'}`);
    return c.rejected > 0 ? 1 : 0;
  } finally {
    await p.sender.stop();
    p.outbox.close();
  }
}

/** `flashtrail station rework|scrap|ship`: one lifecycle event, signed here, delivered now if the ledger answers. */
export async function stationLifecycle(configFile: string, serial: string, operator: string | undefined, action: LifecycleAction, out: (s: string) => void): Promise<number> {
  const p = parts(configFile, out);
  try {
    const who = operator ?? p.config.operator;
    if (who === undefined) throw new StationConfigError('--operator is needed (the configuration names no fixed operator)');
    const { delivery } = await recordLifecycle(p, serial, who, action);
    out(describeDelivery(serial, action.type, delivery));
    return delivery.state === 'rejected' ? 1 : 0;
  } finally {
    await p.sender.stop();
    p.outbox.close();
  }
}
