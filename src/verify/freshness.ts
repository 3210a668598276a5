/**
 * How fresh evidence is (docs/format.md §5.3): evidence is complete only *as of* its checkpoint. A verifier that
 * knows the log has reached some size (from a newer checkpoint it holds, or from a witness) refuses evidence
 * against a smaller tree; the age is what the witnesses' cosignature times say, the latest of them (the ledger's
 * own checkpoint carries no time). Pure.
 */
import type { Checkpoint } from '../tlog/checkpoint.ts';
import { VerificationError } from './errors.ts';
import type { WitnessReport } from './witnesses.ts';

export interface FreshnessReport {
  readonly size: number;
  /** The latest witness cosignature time (ISO 8601), or null when no witness cosigned under the policy. */
  readonly asOf: string | null;
  /** Seconds between `asOf` and the verifier's clock, or null. */
  readonly ageSeconds: number | null;
}

export function checkFreshness(checkpoint: Checkpoint, atLeast: number | undefined, witnesses: WitnessReport | undefined, now: Date, at: { field?: string; line?: number } = { field: 'checkpoint' }): FreshnessReport {
  if (atLeast !== undefined && checkpoint.size < atLeast) {
    throw new VerificationError('CHECKPOINT_STALE', 'freshness', `the evidence is against a tree of ${checkpoint.size} leaves, older than the ${atLeast} the log is known to have: events logged since (a later re-flash, a scrap) may be missing`, at);
  }
  const times = (witnesses?.cosignedBy ?? []).map((c) => Date.parse(c.cosignedAt));
  const latest = times.length > 0 ? Math.max(...times) : null;
  return { size: checkpoint.size, asOf: latest === null ? null : new Date(latest).toISOString(), ageSeconds: latest === null ? null : Math.max(0, Math.round((now.getTime() - latest) / 1000)) };
}

export function freshnessDetail(f: FreshnessReport, atLeast: number | undefined): string {
  const age = f.ageSeconds === null ? 'age unknown (no witness cosignature time)' : `as of ${f.asOf}, ${describeAge(f.ageSeconds)} old`;
  return `complete as of tree size ${f.size}${atLeast !== undefined ? ` (at least ${atLeast} required)` : ''}; ${age}`;
}

function describeAge(seconds: number): string {
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172_800) return `${Math.round(seconds / 3600)} h`;
  return `${Math.round(seconds / 86_400)} days`;
}
