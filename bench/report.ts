/**
 * Collects a benchmark's figures, echoes them on stderr as they come, and prints them at the end: a
 * Markdown table, or with `--json` one JSON object (figures by a stable key, so that runs can be compared
 * and the README's tables regenerated from them with `tsx bench/table.ts`).
 */
import { availableParallelism, cpus, totalmem } from 'node:os';

export interface Figure {
  /** What was measured, as the README's table says it. */
  readonly what: string;
  readonly value: number | null;
  readonly unit: string;
  /** Decimals shown in the table. */
  readonly digits: number;
}

export interface BenchReport {
  readonly bench: string;
  readonly quick: boolean;
  readonly date: string;
  readonly node: string;
  readonly cores: number;
  readonly cpu: string;
  readonly memoryGb: number;
  readonly figures: Record<string, Figure>;
}

export const json = process.argv.includes('--json');
export const quick = process.argv.includes('--quick');

export function createReport(bench: string) {
  const figures: Record<string, Figure> = {};
  return {
    /** `key` names the figure run to run (stable, independent of sizes); `value` null when it could not be measured. */
    add(key: string, what: string, value: number | null, unit: string, digits = 0): void {
      if (figures[key]) throw new Error(`figure ${key} reported twice`);
      figures[key] = { what, value, unit, digits };
      console.error(`  ${what}: ${show({ what, value, unit, digits })} ${unit}`);
    },
    get(key: string): number | null {
      return figures[key]?.value ?? null;
    },
    print(): void {
      const report: BenchReport = {
        bench,
        quick,
        date: new Date().toISOString(),
        node: process.version,
        cores: availableParallelism(),
        cpu: cpus()[0]?.model ?? 'unknown',
        memoryGb: Math.round(totalmem() / 2 ** 30),
        figures,
      };
      console.log(json ? JSON.stringify(report) : table(report));
    },
  };
}

export const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

export const show = (f: Figure) => (f.value === null ? 'unavailable' : fmt(f.value, f.digits));

export function table(report: BenchReport): string {
  const rows = Object.values(report.figures).map((f) => `| ${f.what} | ${show(f)} | ${f.unit} |`);
  return ['| measurement | value | unit |', '|---|---:|---|', ...rows].join('\n');
}

/** Events (or operations) per second. */
export const perSecond = (n: number, ms: number) => (n / ms) * 1000;

/** The q-quantile (0..1) of samples, nearest rank. */
export function quantile(samples: readonly number[], q: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}

export function runBench(main: () => Promise<void>): void {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
