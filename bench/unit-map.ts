/**
 * The unit history map's memory and build rate (issue 19): the map (docs/format.md §15: unit histories and the
 * firmware part, §15.6) built leaf by leaf over the first N events of a data set's event store, as a ledger's
 * first start builds it (UnitMapIndex.advanceTo), next to the same-run reference of the units-only map
 * (§15.2). Each build runs in a child process of its own (node --expose-gc) so that one does not inherit the
 * other's heap; the heap is sampled after a full GC.
 *
 *   npx tsx bench/unit-map.ts --data DIR [--events 100000] [--json]
 *
 * DIR is a data directory with an events.sqlite (bench/scale.ts --data DIR/<events> builds one), opened
 * read-only.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { createReport, runBench } from './report.ts';
import { nativeCrypto } from '../src/native/crypto.ts';
import { leafHash } from '../src/merkle/hash.ts';
import { CommittedMap, firmwareOfEntry } from '../src/verify/firmware-map.ts';
import { UnitHistoryMap } from '../src/verify/history-map.ts';
import { toHex } from '../src/crypto/encoding.ts';

const argument = (name: string): string | null => {
  const at = process.argv.indexOf(name);
  return at > 0 ? (process.argv[at + 1] ?? '') : null;
};

interface Pass { readonly heapMb: number; readonly rssMb: number; readonly units: number; readonly events: number; readonly seconds: number; readonly root: string }

/** One build, in this process: `units` (the reference) or `full`. */
function build(dir: string, events: number, kind: 'units' | 'full'): Pass {
  const db = new Database(join(dir, 'events.sqlite'), { readonly: true });
  db.defaultSafeIntegers(true);
  const read = db.prepare('SELECT position, data FROM events WHERE position > ? ORDER BY position LIMIT ?');
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const full = CommittedMap.empty(nativeCrypto, 2);
  const units = new UnitHistoryMap(nativeCrypto);
  const serials = new Set<string>();
  let after = -1n;
  let n = 0;
  const started = performance.now();
  while (n < events) {
    const rows = read.all(after, Math.min(5000, events - n)) as { position: bigint; data: Buffer }[];
    if (rows.length === 0) break;
    for (const r of rows) {
      const unit = firmwareOfEntry(r.data, nativeCrypto);
      if (unit) serials.add(unit.serial);
      if (kind === 'full') full.append(leafHash(r.data, nativeCrypto), unit);
      else units.append(leafHash(r.data, nativeCrypto), unit?.serial ?? null);
      after = r.position;
      n++;
    }
  }
  const seconds = (performance.now() - started) / 1000;
  const root = toHex(kind === 'full' ? full.root() : units.root());
  const unitCount = serials.size;
  serials.clear();
  gc?.();
  const m = process.memoryUsage();
  db.close();
  return { heapMb: (m.heapUsed - heapBefore) / 1e6, rssMb: m.rss / 1e6, units: unitCount, events: n, seconds, root };
}

async function main(): Promise<void> {
  const dir = argument('--data');
  if (dir === null) throw new Error('--data DIR: a data directory with an events.sqlite (bench/scale.ts --data builds one)');
  const events = Number(argument('--events') ?? '100000');
  const pass = argument('--pass');
  if (pass === 'units' || pass === 'full') {
    process.stdout.write(JSON.stringify(build(dir, events, pass)));
    return;
  }
  const self = fileURLToPath(import.meta.url);
  const run = (kind: string): Pass => {
    const child = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', self, '--data', dir, '--events', String(events), '--pass', kind], { encoding: 'utf8', maxBuffer: 1 << 20 });
    if (child.status !== 0) throw new Error(`the ${kind} pass failed: ${child.stderr}`);
    return JSON.parse(child.stdout) as Pass;
  };
  console.error(`flashtrail unit map benchmark: the first ${events.toLocaleString('en-US')} events of ${dir}, node ${process.version}`);
  const results = createReport('unit-map');
  const reference = run('units');
  const full = run('full');
  results.add('unitmap.events', 'events read', full.events, 'events');
  results.add('unitmap.units', 'units', full.units, 'units');
  results.add('unitmap.full.heap', 'the map (unit histories and firmware, §15.6): heap after a full GC', full.heapMb, 'MB', 1);
  results.add('unitmap.full.heapPerUnit', 'the map: heap per unit', (full.heapMb * 1e6) / full.units, 'bytes');
  results.add('unitmap.full.rate', 'the map: build rate (decode, leaf hash, map update)', full.events / full.seconds, 'events/s');
  results.add('unitmap.units.heap', 'reference, same run: the units-only map (§15.2), heap after a full GC', reference.heapMb, 'MB', 1);
  results.add('unitmap.units.heapPerUnit', 'reference: units-only map, heap per unit', (reference.heapMb * 1e6) / reference.units, 'bytes');
  results.add('unitmap.units.rate', 'reference: units-only map, build rate', reference.events / reference.seconds, 'events/s');
  console.error(`  map root ${full.root.slice(0, 16)}… (units-only root ${reference.root.slice(0, 16)}…)`);
  results.print();
}

runBench(main);
