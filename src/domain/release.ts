/** Release decider: an approved firmware release fixes the expected hashes, once. */
import type { EventOf } from '../../schemas/index.ts';
import { releaseStream } from '../event/streams.ts';
import { DecisionError } from './decision-error.ts';
import { defineAggregate } from './aggregate.ts';
import { ADMIN_EVENT_MAX_AGE_MS, eventTimeViolation, type EventTimeContext } from './event-time.ts';

export type ReleaseEvent = EventOf<'ReleaseApproved'>;
export type ReleaseState = {
  readonly approved: ReleaseEvent['data'] | null;
  /** The signed time of the approval. */
  readonly approvedAt: string | null;
};
export const initialReleaseState: ReleaseState = { approved: null, approvedAt: null };

export function decideRelease(event: ReleaseEvent, state: ReleaseState, ctx: EventTimeContext): ReleaseEvent[] {
  const status = state.approved === null ? 'unknown' : 'approved';
  const late = eventTimeViolation(event.occurredAt, ctx, { maxAgeMs: ADMIN_EVENT_MAX_AGE_MS });
  if (late) throw new DecisionError(late.rule, `ReleaseApproved refused: ${late.message} (release ${event.data.releaseId} is ${status})`, status);
  if (state.approved !== null) {
    throw new DecisionError('RELEASE_EXISTS', `release ${event.data.releaseId} is already approved; approve a new release id instead`, 'approved');
  }
  return [event];
}

export function evolveRelease(_state: ReleaseState, event: ReleaseEvent): ReleaseState {
  return { approved: event.data, approvedAt: event.occurredAt };
}

export const releaseAggregate = defineAggregate<ReleaseEvent, ReleaseState>({
  name: 'release',
  streamPrefix: releaseStream(''),
  eventTypes: ['ReleaseApproved'],
  initialState: initialReleaseState,
  evolve: evolveRelease,
  decide: (event, state, ctx) => decideRelease(event, state, ctx),
});
