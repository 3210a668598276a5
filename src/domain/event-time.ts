/**
 * Bounds on the signed `occurredAt` of an event, shared by every decider. A signed time is evidence: an
 * auditor reads "when" from it, scrap and yield reports group by it. So it may not lie ahead of the ledger's
 * clock by more than the allowed skew, nor before the previous event of its own stream by more than that
 * skew (a stream is one thing's history, in order). Administrator events are signed when they are
 * submitted (`flashtrail admin submit` signs and sends at once), so they may also not be older than
 * ADMIN_EVENT_MAX_AGE_MS: a year-2999 or a 1970 ReleaseApproved is a mistake or a forgery, never a record.
 * Pure: the clock, the skew and the previous event's time come in.
 */
import type { RuleCode } from './decision-error.ts';

/** How long before the ledger's clock an administrator event may have been signed. */
export const ADMIN_EVENT_MAX_AGE_MS = 24 * 60 * 60 * 1000;

export interface EventTimeContext {
  /** The ledger's clock when the event is decided. */
  readonly now: Date;
  /** How far an event's time may lie ahead of that clock, or behind its stream's previous event. */
  readonly maxClockSkewMs: number;
  /** occurredAt of the previous event of the event's own stream (pending ones included), or null. */
  readonly previousAt: string | null;
}

export interface TimeViolation {
  readonly rule: RuleCode;
  readonly message: string;
}

/** The bound an event's time breaks, or null. `notBefore` adds a bound of the caller's (e.g. the release approval). */
export function eventTimeViolation(occurredAt: string, ctx: EventTimeContext, options: { readonly maxAgeMs?: number; readonly notBefore?: { readonly at: string; readonly what: string } } = {}): TimeViolation | null {
  const at = Date.parse(occurredAt);
  const now = ctx.now.getTime();
  const skew = ctx.maxClockSkewMs;
  const minutes = (ms: number) => `${Math.round(ms / 60_000)} min`;
  if (at > now + skew) {
    return { rule: 'CLOCK_SKEW', message: `occurredAt ${occurredAt} is ahead of the ledger clock ${ctx.now.toISOString()} by more than ${minutes(skew)}` };
  }
  if (options.maxAgeMs !== undefined && at < now - options.maxAgeMs) {
    return { rule: 'EVENT_TOO_OLD', message: `occurredAt ${occurredAt} is more than ${Math.round(options.maxAgeMs / 3_600_000)} h before the ledger clock ${ctx.now.toISOString()}; sign it again now` };
  }
  if (ctx.previousAt !== null && at < Date.parse(ctx.previousAt) - skew) {
    return { rule: 'TIME_BEFORE_PREVIOUS', message: `occurredAt ${occurredAt} is before the previous event of its stream (${ctx.previousAt}) by more than ${minutes(skew)}` };
  }
  if (options.notBefore && at < Date.parse(options.notBefore.at) - skew) {
    return { rule: 'TIME_BEFORE_PREVIOUS', message: `occurredAt ${occurredAt} is before ${options.notBefore.what} (${options.notBefore.at}) by more than ${minutes(skew)}` };
  }
  return null;
}
