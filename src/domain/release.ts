/** Release decider: an approved firmware release fixes the expected hashes, once. */
import type { EventOf } from '../../schemas/index.ts';
import { releaseStream } from '../event/streams.ts';
import { DecisionError } from './decision-error.ts';
import { defineAggregate } from './aggregate.ts';

export type ReleaseEvent = EventOf<'ReleaseApproved'>;
export type ReleaseState = { readonly approved: ReleaseEvent['data'] | null };
export const initialReleaseState: ReleaseState = { approved: null };

export function decideRelease(event: ReleaseEvent, state: ReleaseState): ReleaseEvent[] {
  if (state.approved !== null) {
    throw new DecisionError('RELEASE_EXISTS', `release ${event.data.releaseId} is already approved; approve a new release id instead`, 'approved');
  }
  return [event];
}

export function evolveRelease(_state: ReleaseState, event: ReleaseEvent): ReleaseState {
  return { approved: event.data };
}

export const releaseAggregate = defineAggregate<ReleaseEvent, ReleaseState>({
  name: 'release',
  streamPrefix: releaseStream(''),
  eventTypes: ['ReleaseApproved'],
  initialState: initialReleaseState,
  evolve: evolveRelease,
  decide: (event, state) => decideRelease(event, state),
});
