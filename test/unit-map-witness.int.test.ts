/**
 * The index log's checkpoints go to the ledger's witnesses (docs/format.md §15.3): a real `flashtrail witness
 * serve` process that witnesses both logs cosigns the index checkpoint, and a provenance v3 document verified
 * with the policy and the index log key reports the quorum on the index checkpoint too.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestLedger } from './helpers/ledger-fixture.ts';
import { runCli } from './helpers/cli.ts';
import { spawnWitness, type WitnessProcess } from './helpers/witness-process.ts';
import { configFromEnv, initDataDir, ledgerIdentity } from '../src/server/main.ts';
import { SimulatedStation } from '../src/sim/simulated-station.ts';
import { LedgerClient } from '../src/client/ledger-client.ts';
import { EventSigner } from '../src/event/signer.ts';
import { parseCosignerKey, verifyCosignatures } from '../src/tlog/cosignature.ts';
import { formatVerifierKey, parseVerifierKey } from '../src/tlog/note.ts';
import { readSecretKeyFile } from '../src/files/key-file.ts';
import { indexLogOrigin } from '../src/verify/map-commitment.ts';
import { parseWitnessPolicy, verifyProvenance, type ProvenanceDocument } from '../src/verify/index.ts';
import { nativeCrypto } from '../src/native/crypto.ts';

const work = mkdtempSync(join(tmpdir(), 'flashtrail-map-witness-'));
const ledgerDir = join(work, 'ledger');
let witness: WitnessProcess;
let ledgerKey: string;
let mapKey: string;
let policyText: string;


beforeAll(async () => {
  // init creates the index log's key beside the ledger's: both verifier keys are known before the first start.
  const config = configFromEnv({}, { dataDir: ledgerDir, port: 0, logLevel: 'silent' });
  initDataDir(config);
  const identity = ledgerIdentity(config);
  ledgerKey = identity.verifierKey;
  mapKey = formatVerifierKey(indexLogOrigin(identity.origin), readSecretKeyFile(join(ledgerDir, 'unit-map.key')).publicKey);
  const witnessDir = join(work, 'witness');
  const init = await runCli(['witness', 'init', '--dir', witnessDir, '--name', 'witness.test/w1', '--log', ledgerKey, '--log', mapKey]);
  expect(init.code, init.stderr).toBe(0);
  witness = await spawnWitness(witnessDir);
  policyText = `log ${ledgerKey}\nwitness W1 ${witness.verifierKey} ${witness.url}\nquorum W1\n`;
  writeFileSync(join(work, 'policy.txt'), policyText);
}, 60_000);
afterAll(async () => {
  await witness?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('the index log and the witnesses', () => {
  it('the witness cosigns the index checkpoint; the history is verified under the policy', async () => {
    const t = await startTestLedger({ dataDir: ledgerDir, witnessPolicyFile: join(work, 'policy.txt') });
    try {
      expect((await (await fetch(`${t.url}/v1/unit-map/key`, { headers: { authorization: `Bearer ${t.tokens.auditor}` } })).text()).trim()).toBe(mapKey);
      const station = new SimulatedStation(new LedgerClient(t.url, t.tokens.station1), new EventSigner(t.stationKeys['ST-01'], 'ST-01'), { stationId: 'ST-01', operator: 'op', batchId: t.batchId, hardwareRevision: 'rev-C' }, t.release);
      await station.flash('W-1', 'pass');
      const doc = await new LedgerClient(t.url, t.tokens.auditor).get<ProvenanceDocument>('/v1/units/W-1/provenance');
      expect(doc.format).toBe('flashtrail.provenance.v3');
      const indexNote = doc.history!.commitment.checkpoint;
      expect(verifyCosignatures(indexNote, [parseCosignerKey(witness.verifierKey)])).toHaveLength(1);
      const report = verifyProvenance(doc, parseVerifierKey(ledgerKey), nativeCrypto, { policy: parseWitnessPolicy(policyText), mapKey: parseVerifierKey(mapKey) });
      expect(report.history?.indexWitnesses?.cosignedBy.map((c) => c.witness)).toEqual(['W1']);
    } finally {
      await t.stop();
    }
  }, 60_000);
});
