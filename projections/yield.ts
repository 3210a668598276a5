/** Scrap and yield report over unit facts (pure). */
import type { UnitFacts } from './production.ts';

export interface ParetoRow {
  readonly step: string;
  readonly errorCode: string;
  readonly count: number;
  readonly share: number;
  readonly cumulativeShare: number;
}

export interface YieldFigures {
  readonly started: number;
  readonly completed: number;
  readonly inProgress: number;
  /** Units locked, completed or shipped without any failure or rework, over units started. */
  readonly firstPassYield: number;
  readonly reworked: number;
  readonly scrapped: number;
  readonly scrapRate: number;
  readonly retriesPerStep: Record<string, number>;
  readonly pareto: readonly ParetoRow[];
}

export type YieldGroup = 'batch' | 'line' | 'station' | 'day';

export function yieldFigures(units: readonly UnitFacts[]): YieldFigures {
  const started = units.length;
  const done = (u: UnitFacts) => u.status === 'locked' || u.status === 'completed' || u.status === 'shipped';
  const completed = units.filter(done).length;
  const firstPass = units.filter((u) => u.firstPass && done(u)).length;
  const scrapped = units.filter((u) => u.status === 'scrapped').length;
  const retriesPerStep: Record<string, number> = {};
  const causes = new Map<string, { step: string; errorCode: string; count: number }>();
  for (const u of units) {
    for (const f of u.failures) {
      retriesPerStep[f.step] = (retriesPerStep[f.step] ?? 0) + 1;
      const k = `${f.step}\u0000${f.errorCode}`;
      const c = causes.get(k) ?? { step: f.step, errorCode: f.errorCode, count: 0 };
      c.count++;
      causes.set(k, c);
    }
  }
  const total = [...causes.values()].reduce((n, c) => n + c.count, 0);
  let cumulative = 0;
  const pareto = [...causes.values()]
    .sort((a, b) => b.count - a.count || a.step.localeCompare(b.step) || a.errorCode.localeCompare(b.errorCode))
    .map((c) => {
      cumulative += c.count;
      return { ...c, share: c.count / total, cumulativeShare: cumulative / total };
    });
  return {
    started,
    completed,
    inProgress: units.filter((u) => u.status === 'in_progress').length,
    firstPassYield: started === 0 ? 0 : firstPass / started,
    reworked: units.filter((u) => u.reworks > 0).length,
    scrapped,
    scrapRate: started === 0 ? 0 : scrapped / started,
    retriesPerStep,
    pareto,
  };
}

export function yieldBy(units: readonly UnitFacts[], group: YieldGroup): ({ [K in YieldGroup]?: string } & YieldFigures)[] {
  const keyOf = (u: UnitFacts) => (group === 'batch' ? u.batchId : group === 'line' ? u.line : group === 'station' ? u.station : u.day) ?? '(unknown)';
  const groups = new Map<string, UnitFacts[]>();
  for (const u of units) {
    const g = groups.get(keyOf(u));
    if (g) g.push(u);
    else groups.set(keyOf(u), [u]);
  }
  return [...groups.entries()].sort((a, b) => a[0].localeCompare(b[0])).map(([k, us]) => ({ [group]: k, ...yieldFigures(us) }));
}
