/** Composition root of the station agent: `flashtrail station init | run | status`. */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadStationConfig } from './config.ts';
import { Outbox } from './outbox.ts';
import { Sender } from './sender.ts';
import { openSerialLines } from './serial.ts';
import { StationAgent } from './agent.ts';
import { readSecretKeyFile, writeSecretKeyFile } from '../src/files/key-file.ts';
import { newSigner } from '../src/crypto/ed25519.ts';
import { EventSigner } from '../src/event/signer.ts';
import { LedgerClient } from '../src/client/ledger-client.ts';
import { toHex } from '../src/crypto/encoding.ts';

const outboxFile = (dataDir: string) => {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  return join(dataDir, 'outbox.sqlite');
};

/** Creates the station key (0600) and prints what an administrator registers. */
export function stationInit(stationId: string, keyFile: string, line: string, out: (s: string) => void): void {
  const key = newSigner();
  writeSecretKeyFile(keyFile, key, `flashtrail station ${stationId}`);
  out(`created ${keyFile} (mode 0600). Ask an administrator to register this station and key:`);
  out(`  echo '${JSON.stringify({ stationId, line, site: 'Plant 1' })}' | flashtrail admin submit StationRegistered -`);
  out(`  echo '${JSON.stringify({ stationId, keyId: key.keyId, publicKey: toHex(key.publicKey), algorithm: 'ed25519' })}' | flashtrail admin submit StationKeyRegistered -`);
}

export async function stationRun(configFile: string, out: (s: string) => void): Promise<{ stop(): Promise<void>; agent: StationAgent }> {
  const config = loadStationConfig(configFile);
  const key = readSecretKeyFile(config.keyFile);
  const client = new LedgerClient(config.ledger.url, readFileSync(config.ledger.tokenFile, 'utf8').trim());
  const outbox = new Outbox(outboxFile(config.dataDir));
  const clock = () => new Date();
  const sender = new Sender({
    outbox,
    client,
    clock,
    onRejected: (eventId, type, stream, reason) => out(`LEDGER REFUSED ${type} of ${stream} (${eventId}): ${reason}`),
    onOnlineChange: (online) => out(online ? `ledger reachable again: delivering ${outbox.counts().pending} pending event(s)` : `ledger unreachable: events are kept in the outbox (${config.dataDir})`),
  });
  const scanner = await openSerialLines(config.ports.scanner.path, config.ports.scanner.baudRate, 'the scanner port (ports.scanner.path)');
  const deviceConsole = await openSerialLines(config.ports.console.path, config.ports.console.baudRate, 'the device console port (ports.console.path)');
  const pending = outbox.counts().pending;
  if (pending > 0) out(`${pending} event(s) from an earlier run are pending: delivering them first`);
  sender.start();
  const agent = new StationAgent({ config, signer: new EventSigner(key, config.stationId, clock), client, outbox, sender, scanner, console: deviceConsole, clock, out });
  await agent.start();
  return {
    agent,
    stop: async () => {
      await agent.idle();
      await sender.stop();
      await scanner.close();
      await deviceConsole.close();
      outbox.close();
    },
  };
}

export function stationStatus(configFile: string, out: (s: string) => void): number {
  const config = loadStationConfig(configFile);
  const outbox = new Outbox(outboxFile(config.dataDir));
  try {
    const c = outbox.counts();
    out(`station ${config.stationId}: ${c.pending} pending, ${c.delivered} delivered, ${c.rejected} rejected`);
    for (const e of outbox.pending(1000)) out(`  pending   ${e.type.padEnd(20)} ${e.stream}  attempts ${e.attempts}${e.lastError ? `  last error: ${e.lastError}` : ''}`);
    for (const e of outbox.rejected()) out(`  REJECTED  ${e.type.padEnd(20)} ${e.stream}  ${e.lastError ?? ''}`);
    return c.rejected > 0 ? 1 : 0;
  } finally {
    outbox.close();
  }
}
