/**
 * The plant broker over TLS (amqps): `flashtrail serve` as a real process against a real RabbitMQ with a TLS
 * listener whose certificate a throwaway plant CA signed (made here with openssl). With a CA file that did not
 * sign it, the ledger refuses the broker (and says why in its log) but goes on accepting events; started again
 * with the plant's CA and the broker's name, it connects, and the unit's messages arrive.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { brokerUnavailable, PLANT, startTestBroker, type TestBroker } from './helpers/rabbitmq.ts';
import { connectMes, type Mes } from './helpers/mes.ts';
import { runCli } from './helpers/cli.ts';
import { spawnLedger, type ServerProcess } from './helpers/server-process.ts';
import { addToken } from '../src/api/tokens.ts';
import { readSecretKeyFile } from '../src/files/key-file.ts';
import { newSigner } from '../src/crypto/ed25519.ts';
import { EventSigner } from '../src/event/signer.ts';
import { LedgerClient } from '../src/client/ledger-client.ts';
import { lineSetupEvents } from '../src/sim/line-setup.ts';
import { SimulatedStation, simulatedRelease } from '../src/sim/simulated-station.ts';

const openssl = spawnSync('openssl', ['version'], { encoding: 'utf8' });
const unavailable = brokerUnavailable() ?? (openssl.error || openssl.status !== 0 ? 'openssl is not installed (it makes the test CA)' : null);
if (unavailable) console.log(`skipping the CFX TLS tests: ${unavailable}`);

const DEPLOY = fileURLToPath(new URL('../deploy/rabbitmq/', import.meta.url));
const PASS = ['WorkStarted', 'UnitsPersonalized', 'UnitsProcessed', 'UnitsTested', 'UnitsProcessed', 'UnitsProcessed', 'WorkCompleted'];

/** A CA and, when `server` is given, a certificate it signs for that name and 127.0.0.1. */
function makeCa(dir: string, name: string, server?: string): { caFile: string; certFile: string; keyFile: string } {
  const run = (args: string[]) => {
    const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  run(['req', '-x509', ...ec, '-keyout', `${name}-ca.key`, '-out', `${name}-ca.pem`, '-days', '2', '-subj', `/CN=${name} test CA`]);
  if (server) {
    writeFileSync(join(dir, `${name}.ext`), `subjectAltName=DNS:${server},IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n`);
    run(['req', ...ec, '-keyout', `${name}-broker.key`, '-out', `${name}-broker.csr`, '-subj', `/CN=${server}`]);
    run(['x509', '-req', '-in', `${name}-broker.csr`, '-CA', `${name}-ca.pem`, '-CAkey', `${name}-ca.key`, '-CAcreateserial', '-out', `${name}-broker.pem`, '-days', '2', '-extfile', `${name}.ext`]);
  }
  return { caFile: join(dir, `${name}-ca.pem`), certFile: join(dir, `${name}-broker.pem`), keyFile: join(dir, `${name}-broker.key`) };
}

describe.skipIf(unavailable !== null)('IPC-CFX over TLS (amqps) through flashtrail serve', () => {
  let root: string;
  let broker: TestBroker;
  let mes: Mes;
  let ledger: ServerProcess | null = null;
  let plantCa: string;
  let otherCa: string;

  const env = (caFile: string) => ({
    FLASHTRAIL_CFX_BROKER_URL: `amqps://${PLANT.user}@127.0.0.1:${broker.tlsPort}`,
    FLASHTRAIL_CFX_PASSWORD_FILE: join(DEPLOY, 'flashtrail-password'),
    FLASHTRAIL_CFX_CA_FILE: caFile,
    FLASHTRAIL_CFX_TLS_SERVERNAME: 'broker.plant1.test',
    FLASHTRAIL_CFX_HANDLE: 'Plant1.L1.flashtrail',
    FLASHTRAIL_CFX_VHOST: PLANT.vhost,
    FLASHTRAIL_CFX_ADDRESS: `/exchange/${PLANT.exchange}`,
  });

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'flashtrail-cfx-tls-'));
    const plant = makeCa(root, 'plant', 'broker.plant1.test');
    plantCa = plant.caFile;
    otherCa = makeCa(root, 'other').caFile;
    broker = await startTestBroker(JSON.parse(readFileSync(join(DEPLOY, 'definitions.json'), 'utf8')) as object, { tls: plant });
    mes = await connectMes({ port: broker.port, vhost: PLANT.vhost, user: PLANT.mesUser, password: PLANT.mesPassword, eventsQueue: PLANT.eventsQueue, requestQueue: PLANT.requestQueue, replyQueue: PLANT.replyQueue });
  }, 180_000);

  afterAll(async () => {
    await mes?.close();
    await ledger?.kill('SIGTERM');
    await broker?.destroy();
    if (root) rmSync(root, { recursive: true, force: true });
  }, 60_000);

  it('a CA that did not sign the broker is refused, appends go on; with the plant CA the messages arrive', async () => {
    const dataDir = join(root, 'data');
    expect((await runCli(['init', '--data', dataDir])).code).toBe(0);
    const stationKey = newSigner();
    const stationToken = addToken(join(dataDir, 'tokens.json'), { name: 'st-01', role: 'station', stationId: 'ST-01' });
    const release = simulatedRelease('R-1', 'SENSOR-S3', '2.4.1');

    ledger = await spawnLedger(dataDir, env(otherCa));
    const admin = new EventSigner(readSecretKeyFile(join(dataDir, 'admin.key')), 'admin');
    await new LedgerClient(ledger.url, readFileSync(join(dataDir, 'admin.token'), 'utf8').trim()).append(
      lineSetupEvents(admin, { stations: [{ stationId: 'ST-01', key: stationKey }], release, batch: { batchId: 'B-1', line: 'L1', plannedQuantity: 10 } }),
    );
    const station = (url: string) => new SimulatedStation(new LedgerClient(url, stationToken), new EventSigner(stationKey, 'ST-01'), { stationId: 'ST-01', operator: 'op-7', batchId: 'B-1', hardwareRevision: 'rev-C' }, release);
    await station(ledger.url).flash('SN-TLS-1', 'pass-unshipped');
    const running = ledger;
    for (let i = 0; i < 100 && !/CFX broker unavailable.*certificate|certificate.*CFX broker unavailable/i.test(running.output()); i++) await new Promise((r) => setTimeout(r, 100));
    const refusal = running.output().split('\n').find((l) => /CFX broker unavailable/.test(l)) ?? '';
    expect(refusal, running.output()).toMatch(/certificate/i);
    expect(refusal).not.toContain('line-engineer-secret');
    expect(mes.received).toEqual([]);
    expect(await running.kill('SIGTERM')).toBe(0);

    ledger = await spawnLedger(dataDir, env(plantCa));
    await station(ledger.url).flash('SN-TLS-2', 'pass-unshipped');
    await mes.waitFor((r) => r.length >= 2 * PASS.length, 60_000);
    const names = (serial: string) =>
      mes.received.filter((m) => String(m.properties.application_properties['flashtrail-provenance-url']).endsWith(`/units/${serial}/provenance`)).map((m) => m.envelope.MessageName.split('.').at(-1));
    expect(names('SN-TLS-1')).toEqual(PASS);
    expect(names('SN-TLS-2')).toEqual(PASS);
    expect(ledger.output()).toMatch(/CFX broker connected/);
  }, 180_000);
});
