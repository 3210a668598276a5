/**
 * The reporting clock of Art. 14 of Regulation (EU) 2024/2847 (Cyber Resilience Act), as its text says:
 *
 * Actively exploited vulnerability, Art. 14(2):
 *   (a) an early warning "without undue delay and in any event within 24 hours of the manufacturer becoming
 *       aware of it";
 *   (b) "unless the relevant information has already been provided", a vulnerability notification
 *       "without undue delay and in any event within 72 hours of the manufacturer becoming aware";
 *   (c) "unless the relevant information has already been provided", a final report "no later than 14 days
 *       after a corrective or mitigating measure is available": the clock starts when the fix is
 *       available, not at awareness; until then there is no deadline, and the view says so.
 * Severe incident having an impact on the security of the product, Art. 14(4): (a) 24 hours and (b) 72
 * hours from awareness likewise, (c) a final report "within one month after the submission of the incident
 * notification" (from the actual submission of (b); a calendar month, in UTC, the day clamped to the end
 * of a shorter month).
 *
 * "Unless already provided" is honoured by records that say they cover a later stage (`covers`): an
 * early warning that already carried the notification's content satisfies both. 24 hours is 86,400 s of
 * UTC; "without undue delay" has no number and is not computed. Art. 14(8) (informing impacted users)
 * has no fixed deadline and is tracked by the notification lists, not here.
 */
import { CraError } from './errors.ts';

export type ReportTrack = 'vulnerability' | 'severe_incident';
export type ReportStage = 'early_warning' | 'notification' | 'final_report';
export const REPORT_STAGES: readonly ReportStage[] = ['early_warning', 'notification', 'final_report'];

export interface SubmissionRecord {
  readonly stage: ReportStage;
  /** RFC 3339, when it was submitted on the single reporting platform. */
  readonly at: string;
  /** Later stages whose content this submission already provided. */
  readonly covers?: readonly ReportStage[];
}

export interface ClockInput {
  readonly track: ReportTrack;
  /** When the manufacturer became aware (RFC 3339). */
  readonly awareAt: string;
  /** Vulnerabilities: when a corrective or mitigating measure became available. */
  readonly fixAvailableAt?: string;
  readonly submissions: readonly SubmissionRecord[];
  /** The time to judge at (the caller's clock, passed in so the function stays pure). */
  readonly now: string;
}

export type StageState =
  /** Submitted before its deadline. */
  | 'on_time'
  /** Submitted after its deadline. */
  | 'late'
  /** Not submitted and the deadline has passed. */
  | 'overdue'
  /** Not submitted, deadline ahead. */
  | 'due'
  /** The clock has not started (final report of a vulnerability before a fix is available). */
  | 'not_started';

export interface StageView {
  readonly stage: ReportStage;
  readonly article: string;
  readonly rule: string;
  /** RFC 3339 UTC, absent while `not_started`. */
  readonly deadline?: string;
  readonly submittedAt?: string;
  /** When the content was provided by an earlier submission (`covers`). */
  readonly coveredBy?: ReportStage;
  readonly state: StageState;
  /** Milliseconds to the deadline (negative when passed), for `due` and `overdue`. */
  readonly remainingMs?: number;
}

export interface ClockView {
  readonly track: ReportTrack;
  readonly awareAt: string;
  readonly now: string;
  readonly stages: readonly StageView[];
  readonly overdue: readonly ReportStage[];
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

function time(label: string, text: string): number {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(text)) throw new CraError('CLOCK_INPUT_INVALID', `${label} "${text}" is not an RFC 3339 date-time`, label);
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) throw new CraError('CLOCK_INPUT_INVALID', `${label} "${text}" is not a valid date-time`, label);
  return ms;
}

/** One calendar month later in UTC, the day clamped (31 January → 28/29 February). */
export function addOneMonthUtc(ms: number): number {
  const d = new Date(ms);
  const year = d.getUTCFullYear();
  const month = d.getUTCMonth() + 1;
  const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  return Date.UTC(year, month, Math.min(d.getUTCDate(), lastDay), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds(), d.getUTCMilliseconds());
}

const iso = (ms: number): string => new Date(ms).toISOString();

export function art14Clock(input: ClockInput): ClockView {
  const aware = time('awareAt', input.awareAt);
  const now = time('now', input.now);
  const fix = input.fixAvailableAt !== undefined ? time('fixAvailableAt', input.fixAvailableAt) : undefined;
  if (fix !== undefined && input.track !== 'vulnerability') throw new CraError('CLOCK_INPUT_INVALID', 'fixAvailableAt belongs to the vulnerability track', 'fixAvailableAt');
  const submitted = new Map<ReportStage, number>();
  const covered = new Map<ReportStage, { by: ReportStage; at: number }>();
  for (const s of input.submissions) {
    if (!REPORT_STAGES.includes(s.stage)) throw new CraError('CLOCK_INPUT_INVALID', `unknown stage "${String(s.stage)}"`, 'submissions');
    const at = time(`${s.stage}.at`, s.at);
    if (at < aware) throw new CraError('CLOCK_INPUT_INVALID', `${s.stage} submitted at ${s.at}, before awareness at ${input.awareAt}`, `${s.stage}.at`);
    const prev = submitted.get(s.stage);
    if (prev === undefined || at < prev) submitted.set(s.stage, at);
    for (const c of s.covers ?? []) {
      if (REPORT_STAGES.indexOf(c) <= REPORT_STAGES.indexOf(s.stage)) throw new CraError('CLOCK_INPUT_INVALID', `${s.stage} can cover only later stages, not ${c}`, `${s.stage}.covers`);
      const was = covered.get(c);
      if (was === undefined || at < was.at) covered.set(c, { by: s.stage, at });
    }
  }
  const notificationAt = submitted.get('notification') ?? covered.get('notification')?.at;
  const rules: Record<ReportStage, { article: string; rule: string; deadline: number | undefined }> =
    input.track === 'vulnerability'
      ? {
          early_warning: { article: 'Art. 14(2)(a)', rule: 'within 24 hours of becoming aware', deadline: aware + DAY },
          notification: { article: 'Art. 14(2)(b)', rule: 'within 72 hours of becoming aware', deadline: aware + 3 * DAY },
          final_report: { article: 'Art. 14(2)(c)', rule: 'no later than 14 days after a corrective or mitigating measure is available', deadline: fix === undefined ? undefined : fix + 14 * DAY },
        }
      : {
          early_warning: { article: 'Art. 14(4)(a)', rule: 'within 24 hours of becoming aware', deadline: aware + DAY },
          notification: { article: 'Art. 14(4)(b)', rule: 'within 72 hours of becoming aware', deadline: aware + 3 * DAY },
          final_report: { article: 'Art. 14(4)(c)', rule: 'within one month after the submission of the incident notification', deadline: notificationAt === undefined ? undefined : addOneMonthUtc(notificationAt) },
        };
  const stages = REPORT_STAGES.map((stage): StageView => {
    const { article, rule, deadline } = rules[stage];
    const own = submitted.get(stage);
    const cover = covered.get(stage);
    const doneAt = own !== undefined && cover !== undefined ? Math.min(own, cover.at) : (own ?? cover?.at);
    const coveredBy = cover !== undefined && (own === undefined || cover.at < own) ? cover.by : undefined;
    const base = { stage, article, rule, ...(deadline !== undefined ? { deadline: iso(deadline) } : {}), ...(doneAt !== undefined ? { submittedAt: iso(doneAt) } : {}), ...(coveredBy ? { coveredBy } : {}) };
    if (doneAt !== undefined) return { ...base, state: deadline === undefined || doneAt <= deadline ? 'on_time' : 'late' };
    if (deadline === undefined) return { ...base, state: 'not_started' };
    return { ...base, state: now > deadline ? 'overdue' : 'due', remainingMs: deadline - now };
  });
  return { track: input.track, awareAt: iso(aware), now: iso(now), stages, overdue: stages.filter((s) => s.state === 'overdue').map((s) => s.stage) };
}
