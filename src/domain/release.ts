/**
 * Release decider: an approved firmware release fixes the expected hashes, once. After the approval, the
 * release's SBOM is attached as evidence (once, and only the SBOM whose SHA-256 the approval named), and its
 * support period is set (Art. 13(8) and 13(19) CRA: it may be extended, never shortened).
 */
import type { EventOf } from '../../schemas/index.ts';
import { releaseStream } from '../event/streams.ts';
import { DecisionError, type RuleCode } from './decision-error.ts';
import { defineAggregate } from './aggregate.ts';
import { ADMIN_EVENT_MAX_AGE_MS, eventTimeViolation, type EventTimeContext } from './event-time.ts';

export type ReleaseEvent = EventOf<'ReleaseApproved' | 'SbomAttached' | 'SupportPeriodSet'>;
export type ReleaseState = {
  readonly approved: EventOf<'ReleaseApproved'>['data'] | null;
  /** The signed time of the approval. */
  readonly approvedAt: string | null;
  /** The attached SBOM (its bytes are kept as sboms/<sha256> in the data directory). */
  readonly sbom?: { readonly sha256: string; readonly format: string; readonly specVersion: string; readonly attachedAt: string } | null;
  /** YYYY-MM: the month the support period ends. */
  readonly supportEnd?: string | null;
};
export const initialReleaseState: ReleaseState = { approved: null, approvedAt: null, sbom: null, supportEnd: null };

export function decideRelease(event: ReleaseEvent, state: ReleaseState, ctx: EventTimeContext): ReleaseEvent[] {
  const status = state.approved === null ? 'unknown' : 'approved';
  const refuse = (rule: RuleCode, message: string): never => {
    throw new DecisionError(rule, `${event.type} refused: ${message} (release ${event.data.releaseId} is ${status})`, status);
  };
  const late = eventTimeViolation(event.occurredAt, ctx, { maxAgeMs: ADMIN_EVENT_MAX_AGE_MS });
  if (late) throw new DecisionError(late.rule, `${event.type} refused: ${late.message} (release ${event.data.releaseId} is ${status})`, status);
  if (event.type === 'ReleaseApproved') {
    if (state.approved !== null) {
      throw new DecisionError('RELEASE_EXISTS', `release ${event.data.releaseId} is already approved; approve a new release id instead`, 'approved');
    }
    return [event];
  }
  const approved = state.approved;
  if (approved === null) return refuse('RELEASE_UNKNOWN', 'approve the release first');
  if (event.type === 'SbomAttached') {
    if (approved.sbomSha256 === undefined) refuse('SBOM_NOT_DECLARED', 'its ReleaseApproved names no sbomSha256, so no SBOM can be attached as its SBOM');
    if (event.data.sha256 !== approved.sbomSha256) refuse('SBOM_MISMATCH', `the SBOM's SHA-256 ${event.data.sha256} is not the ${approved.sbomSha256 ?? ''} its ReleaseApproved names`);
    if (state.sbom) refuse('SBOM_EXISTS', `its SBOM ${state.sbom.sha256} is already attached (${state.sbom.attachedAt})`);
    return [event];
  }
  const approvedMonth = (state.approvedAt ?? '').slice(0, 7);
  if (event.data.supportEnd < approvedMonth) refuse('SUPPORT_END_BEFORE_APPROVAL', `support end ${event.data.supportEnd} is before the approval (${approvedMonth})`);
  if (state.supportEnd && event.data.supportEnd < state.supportEnd) refuse('SUPPORT_PERIOD_SHORTENED', `support ends ${state.supportEnd}; a support period may be extended, not shortened to ${event.data.supportEnd}`);
  return [event];
}

export function evolveRelease(state: ReleaseState, event: ReleaseEvent): ReleaseState {
  switch (event.type) {
    case 'ReleaseApproved':
      return { ...state, approved: event.data, approvedAt: event.occurredAt };
    case 'SbomAttached':
      return { ...state, sbom: { sha256: event.data.sha256, format: event.data.format, specVersion: event.data.specVersion, attachedAt: event.occurredAt } };
    case 'SupportPeriodSet':
      return { ...state, supportEnd: event.data.supportEnd };
  }
}

export const releaseAggregate = defineAggregate<ReleaseEvent, ReleaseState>({
  name: 'release',
  streamPrefix: releaseStream(''),
  eventTypes: ['ReleaseApproved', 'SbomAttached', 'SupportPeriodSet'],
  initialState: initialReleaseState,
  evolve: evolveRelease,
  decide: (event, state, ctx) => decideRelease(event, state, ctx),
});
