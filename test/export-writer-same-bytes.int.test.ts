/**
 * The export writer's fast path (units read, proved and written in steps: one leaf lookup per step, proofs
 * shared across units, the events' text written around the stored envelope text) against the plain one: every
 * unit line of a real filled ledger's export is, byte for byte, the RFC 8785 form canonicalize gives the record
 * built the simple way — each stream read and decoded through the ledger, each event's leaf looked up alone,
 * each proof asked of the log alone. For a whole batch (dense: blocks of up to 1,024 leaves) and a scattered
 * list of serials (the list lookup, small blocks), as v3 and as v4 (with each unit's map proof), with and
 * without the store handed to the writer; and each file verifies.
 */
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fillLedger } from '../bench/fixtures.ts';
import { startLedgerServer, type RunningLedger } from '../src/server/main.ts';
import { selectUnits, writeExport, type ExportDeps } from '../src/evidence/export.ts';
import { verifyExportFile } from '../src/native/export-verifier.ts';
import { parseVerifierKey } from '../src/verify/index.ts';
import { canonicalize } from '../src/crypto/jcs.ts';
import { toBase64 } from '../src/crypto/encoding.ts';
import { unitStream } from '../src/event/streams.ts';
import { unitFactsOf } from '../src/verify/steps.ts';
import type { ExportSelection } from '../src/verify/export-format.ts';
import type { UnitEvent } from '../schemas/index.ts';

/** More than 1,024 leaves of consecutive units, so that the largest shared blocks are used. */
const UNITS = 1_200;

let dir: string;
let ledger: RunningLedger;
let batchId: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'flashtrail-export-same-bytes-'));
  const filled = await fillLedger(join(dir, 'ledger'), UNITS * 6 + 5);
  batchId = filled.batchId;
  ledger = await startLedgerServer({ ...filled.config, port: 0, logLevel: 'error' }, pino({ level: 'error' }));
  await ledger.log.catchUp();
  await ledger.unitMap.catchUp();
}, 120_000);

afterAll(async () => {
  await ledger?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function depsOf(options: { v4: boolean; store: boolean }): ExportDeps {
  return {
    ledger: ledger.ledger,
    log: ledger.log,
    checkpointer: ledger.checkpointer,
    projections: ledger.projections,
    ledgerKey: ledger.identity.key,
    origin: ledger.identity.origin,
    clock: () => new Date(0),
    ...(options.v4 ? { unitMap: ledger.unitMap } : {}),
    ...(options.store ? { store: ledger.store } : {}),
  };
}

async function write(deps: ExportDeps, selection: ExportSelection, file: string): Promise<string[]> {
  const serials = await selectUnits(deps, selection);
  const out = createWriteStream(file);
  for await (const chunk of writeExport(deps, selection, serials)) if (!out.write(chunk)) await once(out, 'drain');
  out.end();
  await once(out, 'finish');
  return readFileSync(file, 'utf8').split('\n').slice(0, -1);
}

/** The unit line of `serial` built the plain way, or null where the unit has no event under the checkpoint. */
async function plainUnitLine(serial: string, size: number, releaseOf: (batchId: string) => string | null, history: { prove(serial: string): unknown } | null): Promise<string | null> {
  const events = [];
  for (const e of await ledger.ledger.readStream(unitStream(serial))) {
    const leaf = await ledger.log.leafOfPosition(e.recorded.position);
    if (leaf === null || leaf.index >= size) break;
    events.push({ e, leafIndex: leaf.index });
  }
  if (events.length === 0) return null;
  const facts = unitFactsOf(events.map(({ e, leafIndex }) => ({ event: e.event as UnitEvent, leafIndex })));
  const logged = [];
  for (const { e, leafIndex } of events) logged.push({ leafIndex, envelope: e.envelope, proof: (await ledger.log.inclusionProof(leafIndex, size)).map(toBase64) });
  const releaseId = facts.batchId === null ? null : releaseOf(facts.batchId);
  return canonicalize({ record: 'unit', serial, chipId: facts.chipId, mac: facts.mac, batchId: facts.batchId, releaseId, events: logged, ...(history ? { history: history.prove(serial) } : {}) });
}

describe('the export writer', () => {
  for (const v4 of [false, true]) {
    it(`writes every unit line of a ${v4 ? 'v4' : 'v3'} export as the plain path does, for a whole batch and for scattered serials, with the store or through the ledger`, async () => {
      const all = await selectUnits(depsOf({ v4, store: true }), { batchId });
      expect(all.length).toBe(UNITS);
      const scattered = [...all.filter((_s, i) => i % 37 === 5), 'SN-NOT-A-UNIT'];
      for (const selection of [{ batchId }, { serials: scattered }] as ExportSelection[]) {
        const fast = await write(depsOf({ v4, store: true }), selection, join(dir, 'fast.ndjson'));
        const report = await verifyExportFile(join(dir, 'fast.ndjson'), parseVerifierKey(ledger.identity.verifierKey), v4 ? { mapKey: parseVerifierKey(ledger.unitMap.verifierKey) } : {});
        const through = await write(depsOf({ v4, store: false }), selection, join(dir, 'through-ledger.ndjson'));
        // The statement's ML-DSA-44 signature is randomized; every line before it is the same.
        expect(through.slice(0, -1)).toEqual(fast.slice(0, -1));

        const records = fast.map((l) => JSON.parse(l) as { record: string; note?: string; envelope?: unknown });
        expect(records[0]?.record).toBe('header');
        expect(records[1]?.record).toBe('checkpoint');
        const size = Number((records[1]?.note as string).split('\n')[1]);
        const releases = new Map<string, string>();
        for (const r of records) {
          if (r.record !== 'batch') continue;
          const opened = JSON.parse(Buffer.from((r.envelope as { payload: string }).payload, 'base64').toString('utf8')) as { data: { batchId: string; releaseId: string } };
          releases.set(opened.data.batchId, opened.data.releaseId);
        }
        const history = v4 ? await ledger.unitMap.exportEvidence(size) : null;
        if (v4) expect(history).not.toBeNull();

        const unitLines = fast.filter((_l, i) => records[i]?.record === 'unit');
        const expected: string[] = [];
        const wanted = 'serials' in selection ? [...(selection.serials as string[])].sort() : all;
        for (const serial of wanted) {
          const line = await plainUnitLine(serial, size, (b) => releases.get(b) ?? null, history);
          if (line !== null) expected.push(line);
        }
        expect(unitLines.length).toBe('serials' in selection ? scattered.length - 1 : UNITS);
        expect(unitLines).toEqual(expected);
        expect(report.units).toBe(unitLines.length);
        expect(report.events).toBe(unitLines.length * 6);
      }
    }, 240_000);
  }
});
