/** Configuration drift report over unit facts (pure). */
import { DRIFT_DIMENSIONS, type Deviation, type DriftDimension, type UnitFacts } from './production.ts';

export interface DriftedUnit {
  readonly serial: string;
  readonly batchId: string | null;
  readonly deviations: readonly Deviation[];
}

export interface FingerprintGroup {
  readonly fingerprint: string;
  readonly units: number;
  /** Every group but the most common one of its batch. */
  readonly minority: boolean;
  readonly serials: readonly string[];
}

export interface DriftReport {
  readonly units: number;
  readonly drifted: number;
  readonly driftRate: number;
  readonly byDimension: Record<DriftDimension, number>;
  readonly driftedUnits: readonly DriftedUnit[];
  /** Units grouped by configuration fingerprint: flags odd ones out even where no release says what is right. */
  readonly fingerprints: readonly FingerprintGroup[];
}

export function driftReport(units: readonly UnitFacts[]): DriftReport {
  const drifted = units.filter((u) => u.deviations.length > 0);
  const byDimension = Object.fromEntries(DRIFT_DIMENSIONS.map((d) => [d, 0])) as Record<DriftDimension, number>;
  for (const u of drifted) for (const d of new Set(u.deviations.map((x) => x.dimension))) byDimension[d]++;
  const groups = new Map<string, string[]>();
  for (const u of units) {
    if (!u.fingerprint) continue;
    const g = groups.get(u.fingerprint);
    if (g) g.push(u.serial);
    else groups.set(u.fingerprint, [u.serial]);
  }
  const sorted = [...groups.entries()].sort((a, b) => b[1].length - a[1].length || a[0].localeCompare(b[0]));
  return {
    units: units.length,
    drifted: drifted.length,
    driftRate: units.length === 0 ? 0 : drifted.length / units.length,
    byDimension,
    driftedUnits: drifted.map((u) => ({ serial: u.serial, batchId: u.batchId, deviations: u.deviations })),
    fingerprints: sorted.map(([fingerprint, serials], i) => ({
      fingerprint,
      units: serials.length,
      minority: i > 0,
      serials: i > 0 ? serials : [],
    })),
  };
}
