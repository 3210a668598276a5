/**
 * Projection rebuild throughput over a store of 1M events (--quick: 100k), next to the same run's reference
 * of reading and decoding those events without projecting them. The rebuilds run the compiled build (dist/,
 * as `flashtrail projections rebuild` does: `npm run build` first), and their CPU time is reported by thread
 * too (./threads.ts): a rebuild runs on two, and the busiest one's time is what it takes on an idle machine.
 * Then the unit map's first commitment of them
 * (background work of a server started on that log), and, once it is done, the CRA affected-units query
 * latency through the HTTP API at that size.
 *
 *   npm run bench:projections            (a few minutes)
 *   npm run bench:projections -- --quick
 */
import { createReport, fmt, perSecond, quantile, quick, runBench } from './report.ts';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { SqliteEventStore } from '../src/store/sqlite.ts';
import { configFromEnv, startLedgerServer } from '../src/server/main.ts';
import { fillLedger } from './fixtures.ts';
import { decodeStoredEvent } from '../src/native/stored-envelope.ts';
import { compiled } from './compiled.ts';
import { sampleThreadCpu, type ThreadCpu } from './threads.ts';

import type * as SqliteModule from '../src/store/sqlite.ts';
import type * as RunnerModule from '../src/read/projection-runner.ts';
import type * as ReadModelModule from '../src/read/read-model.ts';
import type * as UnitStateModule from '../projections/unit-state.ts';
import type * as ProductionModule from '../projections/production.ts';

interface Built {
  readonly sqlite: typeof SqliteModule;
  readonly runner: typeof RunnerModule;
  readonly readModel: typeof ReadModelModule;
  readonly unitState: typeof UnitStateModule;
  readonly production: typeof ProductionModule;
}

/**
 * Events per second that a rebuild's CPU time allows on this machine idle: its busiest thread's time, or every
 * thread's (V8's collector and compiler threads too) spread over the cores, whichever is longer.
 */
const idleRate = (events: number, cpu: ThreadCpu | null) => (cpu ? perSecond(events, Math.max(cpu.busiestMs, cpu.totalMs / availableParallelism())) : null);

const TARGET = quick ? 100_000 : 1_000_000;
const results = createReport('projections');

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'flashtrail-bench-proj-'));
  console.error(`flashtrail projection benchmark (${quick ? 'quick' : 'full'}), node ${process.version}`);
  try {
    results.add('loadStart', `load average of the machine at the start (1-minute; ${availableParallelism()} cores)`, loadavg()[0] as number, '', 1);
    const filled = await fillLedger(dir, TARGET, (l) => console.error(l));
    const { init } = filled;
    const [written, units, drifted, previous, release] = [filled.events, filled.units, filled.drifted, filled.previousImage, filled.release];
    console.error(`  ${fmt(written)} events, ${fmt(units)} units, ${fmt(drifted)} carrying the previous image`);
    const store = new SqliteEventStore(join(dir, 'events.sqlite'));
    const built: Built = {
      sqlite: await compiled('src/store/sqlite.ts'),
      runner: await compiled('src/read/projection-runner.ts'),
      readModel: await compiled('src/read/read-model.ts'),
      unitState: await compiled('projections/unit-state.ts'),
      production: await compiled('projections/production.ts'),
    };

    // Wall-clock rates fall with the machine's load; the process's CPU time per event moves least (the same
    // reading bench/append.ts takes), so both are reported, and the ratio to the reference of each.
    const cpuMs = () => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1000;
    };
    let t = performance.now();
    let c = cpuMs();
    let after = -1n;
    let decoded = 0;
    for (;;) {
      const batch = await store.readAllForReplay({ after, maxCount: 2000 }); // as the runner reads
      if (batch.length === 0) break;
      for (const e of batch) {
        decodeStoredEvent(e.data); // as the runner decodes
        decoded++;
      }
      after = (batch[batch.length - 1] as { position: bigint }).position;
    }
    results.add('ref.readDecode', `reference: read and decode ${fmt(decoded)} events, no projection`, perSecond(decoded, performance.now() - t), 'events/s');
    const refCpu = perSecond(decoded, cpuMs() - c);
    results.add('ref.readDecode.cpu', 'reference: read and decode, events per second of CPU time', refCpu, 'events/s');

    // The compiled store: the runner reads it on its rebuild thread when it is its own SqliteEventStore class.
    const builtStore = new built.sqlite.SqliteEventStore(join(dir, 'events.sqlite'));
    const runner = new built.runner.ProjectionRunner(builtStore, join(dir, 'readmodel.sqlite'), [built.unitState.unitStateProjection, built.production.productionProjection]);
    t = performance.now();
    c = cpuMs();
    let threads = sampleThreadCpu();
    await runner.rebuild();
    const rebuilt = performance.now() - t;
    const rebuildCpu = perSecond(written, cpuMs() - c);
    const byThread = threads();
    results.add('projections.rebuild', `projection rebuild (unit-state + production) of ${fmt(written)} events`, perSecond(written, rebuilt), 'events/s');
    results.add('projections.rebuild.cpu', 'projection rebuild (unit-state + production), events per second of CPU time (every thread)', rebuildCpu, 'events/s');
    results.add('projections.rebuild.cpuRatio', 'projection rebuild, share of the read+decode reference (CPU time)', (rebuildCpu / refCpu) * 100, '%');
    results.add('projections.rebuild.idle', `projection rebuild, events per second its CPU time allows on ${availableParallelism()} idle cores (busiest thread, or all threads over the cores)`, idleRate(written, byThread), 'events/s');
    if (byThread) console.error(`  CPU time by thread (ms): ${JSON.stringify(byThread.threads)}`);
    runner.close();
    // The server's whole read model, so that the queries below measure the query: a projection missing from the
    // file would be replayed by the first query's catch-up, and its time averaged into the figure.
    rmSync(join(dir, 'readmodel.sqlite'), { force: true });
    const projections = built.readModel.READ_MODEL_PROJECTIONS;
    const whole = new built.runner.ProjectionRunner(builtStore, join(dir, 'readmodel.sqlite'), projections);
    t = performance.now();
    c = cpuMs();
    threads = sampleThreadCpu();
    await whole.rebuild();
    results.add('projections.rebuildReadModel', `projection rebuild of the server's read model (${projections.map((p) => p.name).join(' + ')}) of ${fmt(written)} events`, perSecond(written, performance.now() - t), 'events/s');
    results.add('projections.rebuildReadModel.cpu', "projection rebuild of the server's read model, events per second of CPU time (every thread)", perSecond(written, cpuMs() - c), 'events/s');
    const wholeByThread = threads();
    results.add('projections.rebuildReadModel.idle', `projection rebuild of the server's read model, events per second its CPU time allows on ${availableParallelism()} idle cores`, idleRate(written, wholeByThread), 'events/s');
    if (wholeByThread) console.error(`  CPU time by thread (ms): ${JSON.stringify(wholeByThread.threads)}`);
    whole.close();
    await builtStore.close();
    await store.close();

    const server = await startLedgerServer(configFromEnv({}, { dataDir: dir, port: 0 }), pino({ level: 'warn' }, pino.destination(2)));
    try {
      // A fresh ledger signs its first checkpoint just after it starts, and the unit map then commits every
      // event under it: background work the queries below must not be timed with (it is measured here, apart).
      t = performance.now();
      await server.checkpointer.issue();
      await server.unitMap?.catchUp();
      results.add('unitMap.firstCommit', `unit map: the first checkpoint over ${fmt(written)} events committed, in the server's background`, perSecond(written, performance.now() - t), 'events/s');
      const token = readFileSync(init.adminTokenFile, 'utf8').trim();
      /** The median and the slowest of `n` requests on one kept-alive connection, as a client pages. */
      const timed = async (path: string, accept: string, n: number) => {
        const samples: number[] = [];
        for (let i = 0; i < n; i++) {
          const start = performance.now();
          const response = await fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${token}`, accept } });
          const body = await response.text();
          if (response.status !== 200) throw new Error(`GET ${path}: ${response.status} ${body.slice(0, 300)}`);
          samples.push(performance.now() - start);
        }
        return { p50: quantile(samples, 0.5), max: Math.max(...samples) };
      };
      const page = await timed(`/v1/firmware/${previous}/units?limit=100`, 'application/json', 50);
      results.add('affected.firstPage', `affected units, first JSON page of 100 (of ${fmt(drifted)}), ${fmt(units)} units in the ledger, median of 50`, page.p50, 'ms', 2);
      results.add('affected.firstPage.max', 'affected units, first JSON page of 100, slowest of 50', page.max, 'ms', 2);
      const csv = await timed(`/v1/firmware/${previous}/units`, 'text/csv', 5);
      results.add('affected.csv', `affected units, all ${fmt(drifted)} as CSV, median of 5`, csv.p50, 'ms', 1);
      const all = await timed(`/v1/firmware/${release.application.sha256}/units?limit=1000`, 'application/json', 20);
      results.add('current.page1000', `units carrying the current image, JSON page of 1000 (of ${fmt(units - drifted)}), median of 20`, all.p50, 'ms', 2);
      results.add('current.page1000.max', 'units carrying the current image, JSON page of 1000, slowest of 20', all.max, 'ms', 2);
    } finally {
      await server.close();
    }
    results.add('load', `load average of the machine at the end of the run (1-minute; ${availableParallelism()} cores): the figures are only as quiet as it`, loadavg()[0] as number, '', 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  results.print();
}

runBench(main);
