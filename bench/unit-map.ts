/**
 * The unit history map's memory and build rate (issue 19): the map (docs/format.md §15: unit histories and the
 * firmware part, §15.6) built leaf by leaf over the first N events of a data set's event store, as a ledger's
 * first start builds it (UnitMapIndex.advanceTo), three ways:
 *   - on disk, as a single-node ledger keeps it: the trees in a fresh unit-map.sqlite (src/read/unit-map-nodes.ts),
 *     staged every 50k changes and unloaded to the node cache (--cache-mb, 64 by default), as UnitMapIndex does;
 *   - in memory, as a PostgreSQL ledger and a verifier's rebuild hold it;
 *   - the same-run reference: the units-only map (§15.2) in memory.
 * Each build runs in a child process of its own (node --expose-gc) so that one does not inherit the other's
 * heap; the heap is sampled after a full GC, and the process's peak RSS (VmHWM) is reported. A map on disk
 * should show the same heap at any N (flat), a map in memory a heap that grows with the units.
 *
 *   npx tsx bench/unit-map.ts --data DIR [--events 100000] [--cache-mb 64] [--json]
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
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { CommittedMap, firmwareOfEntry } from '../src/verify/firmware-map.ts';
import { SqliteUnitMapStorage } from '../src/read/unit-map-storage.ts';
import { UnitHistoryMap } from '../src/verify/history-map.ts';
import { toHex } from '../src/crypto/encoding.ts';

const argument = (name: string): string | null => {
  const at = process.argv.indexOf(name);
  return at > 0 ? (process.argv[at + 1] ?? '') : null;
};

interface Pass { readonly heapMb: number; readonly rssMb: number; readonly peakMb: number; readonly cpuSeconds: number; readonly units: number; readonly events: number; readonly seconds: number; readonly root: string; readonly fileMb?: number }

type Kind = 'units' | 'full' | 'disk';
const STAGE_CHANGES = 50_000;
const NODE_BYTES = 250;

const peakMb = () => Number(/^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? Number.NaN) / 1024;

/** One build, in this process: `units` (the reference), `full` (the map in memory) or `disk` (its trees in unit-map.sqlite). */
function build(dir: string, events: number, kind: Kind, cacheMb: number): Pass {
  const db = new Database(join(dir, 'events.sqlite'), { readonly: true });
  db.defaultSafeIntegers(true);
  const read = db.prepare('SELECT position, data FROM events WHERE position > ? ORDER BY position LIMIT ?');
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const scratch = kind === 'disk' ? mkdtempSync(join(tmpdir(), 'flashtrail-bench-unit-map-')) : null;
  const storage = scratch ? new SqliteUnitMapStorage(join(scratch, 'unit-map.sqlite')) : null;
  const cacheNodes = Math.floor((cacheMb * 1024 * 1024) / NODE_BYTES);
  const full = storage
    ? CommittedMap.open({ size: 0, version: 2, map: storage.nodes.tree('map'), firmware: null }, storage.nodes, { slotsOf: (s) => storage.nodes.slotsOf(s), setTree: (d) => storage.nodes.setTree(d), slotsKept: Math.floor((cacheMb * 1024 * 1024) / 16 / 200) }, nativeCrypto)
    : CommittedMap.empty(nativeCrypto, 2);
  const units = new UnitHistoryMap(nativeCrypto);
  /** What UnitMapIndex.advanceTo does every STAGE_CHANGES changes, and its commitment at the end. */
  const stage = () => {
    if (!storage) return;
    full.units.forgetChanged();
    void storage.stage({ units: [], firmware: full.firmware.takeChanges(), nodes: (sink) => {
      const f = full.flush((id, row) => sink.node(id, row));
      sink.tree('map', f.map);
      for (const [digest, tree] of f.sets) sink.tree(`set/${digest}`, tree);
      sink.replaced(f.replaced, 0);
    } });
    full.unload(cacheNodes);
  };
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
      if (kind === 'units') units.append(leafHash(r.data, nativeCrypto), unit?.serial ?? null);
      else full.append(leafHash(r.data, nativeCrypto), unit);
      after = r.position;
      n++;
    }
    if (storage && full.units.pendingChanges + full.firmware.pendingChanges >= STAGE_CHANGES) stage();
  }
  const root = toHex(kind === 'units' ? units.root() : full.root());
  stage();
  const seconds = (performance.now() - started) / 1000;
  const unitCount = serials.size;
  serials.clear();
  gc?.();
  const m = process.memoryUsage();
  const cpu = process.cpuUsage();
  db.close();
  const fileMb = scratch ? statSync(join(scratch, 'unit-map.sqlite')).size / 1e6 + statSync(join(scratch, 'unit-map.sqlite-wal')).size / 1e6 : undefined;
  storage?.close();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
  return { heapMb: (m.heapUsed - heapBefore) / 1e6, rssMb: m.rss / 1e6, peakMb: peakMb(), cpuSeconds: (cpu.user + cpu.system) / 1e6, units: unitCount, events: n, seconds, root, ...(fileMb === undefined ? {} : { fileMb }) };
}

async function main(): Promise<void> {
  const dir = argument('--data');
  if (dir === null) throw new Error('--data DIR: a data directory with an events.sqlite (bench/scale.ts --data builds one)');
  const events = Number(argument('--events') ?? '100000');
  const pass = argument('--pass');
  const cacheMb = Number(argument('--cache-mb') ?? '64');
  if (pass === 'units' || pass === 'full' || pass === 'disk') {
    process.stdout.write(JSON.stringify(build(dir, events, pass, cacheMb)));
    return;
  }
  const self = fileURLToPath(import.meta.url);
  const run = (kind: string): Pass => {
    const child = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', self, '--data', dir, '--events', String(events), '--pass', kind, '--cache-mb', String(cacheMb)], { encoding: 'utf8', maxBuffer: 1 << 20 });
    if (child.status !== 0) throw new Error(`the ${kind} pass failed: ${child.stderr}`);
    return JSON.parse(child.stdout) as Pass;
  };
  console.error(`flashtrail unit map benchmark: the first ${events.toLocaleString('en-US')} events of ${dir}, node ${process.version}`);
  const results = createReport('unit-map');
  const reference = run('units');
  const full = run('full');
  const disk = run('disk');
  if (disk.root !== full.root) throw new Error(`the map on disk has root ${disk.root}, the map in memory ${full.root}`);
  results.add('unitmap.events', 'events read', full.events, 'events');
  results.add('unitmap.units', 'units', full.units, 'units');
  results.add('unitmap.full.heap', 'the map (unit histories and firmware, §15.6): heap after a full GC', full.heapMb, 'MB', 1);
  results.add('unitmap.full.heapPerUnit', 'the map: heap per unit', (full.heapMb * 1e6) / full.units, 'bytes');
  results.add('unitmap.full.rate', 'the map: build rate (decode, leaf hash, map update)', full.events / full.seconds, 'events/s');
  results.add('unitmap.full.cpuPerEvent', 'the map: CPU per event (the whole process)', (full.cpuSeconds * 1e6) / full.events, 'µs');
  results.add('unitmap.full.peak', 'the map: process memory peak (VmHWM)', full.peakMb, 'MB');
  results.add('unitmap.disk.heap', `the map on disk (unit-map.sqlite, node cache ${cacheMb} MB): heap after a full GC`, disk.heapMb, 'MB', 1);
  results.add('unitmap.disk.heapPerUnit', 'the map on disk: heap per unit', (disk.heapMb * 1e6) / disk.units, 'bytes');
  results.add('unitmap.disk.rate', 'the map on disk: build rate (decode, leaf hash, map update, staged writes every 50k changes)', disk.events / disk.seconds, 'events/s');
  results.add('unitmap.disk.cpuPerEvent', 'the map on disk: CPU per event (the whole process)', (disk.cpuSeconds * 1e6) / disk.events, 'µs');
  results.add('unitmap.disk.peak', 'the map on disk: process memory peak (VmHWM)', disk.peakMb, 'MB');
  results.add('unitmap.disk.file', 'the map on disk: unit-map.sqlite (and its WAL) per event', ((disk.fileMb ?? 0) * 1e6) / disk.events, 'bytes');
  results.add('unitmap.units.heap', 'reference, same run: the units-only map (§15.2), heap after a full GC', reference.heapMb, 'MB', 1);
  results.add('unitmap.units.heapPerUnit', 'reference: units-only map, heap per unit', (reference.heapMb * 1e6) / reference.units, 'bytes');
  results.add('unitmap.units.rate', 'reference: units-only map, build rate', reference.events / reference.seconds, 'events/s');
  results.add('unitmap.units.cpuPerEvent', 'reference: units-only map, CPU per event', (reference.cpuSeconds * 1e6) / reference.events, 'µs');
  results.add('unitmap.units.peak', 'reference: units-only map, process memory peak (VmHWM)', reference.peakMb, 'MB');
  console.error(`  map root ${full.root.slice(0, 16)}… (units-only root ${reference.root.slice(0, 16)}…)`);
  results.print();
}

runBench(main);
