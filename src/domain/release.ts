/** Release decider: an approved firmware release fixes the expected hashes, once. */
import type { EventOf } from '../../schemas/index.ts';
import { DecisionError } from './decision-error.ts';

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

export const releaseDecider = { decide: decideRelease, evolve: evolveRelease, initialState: initialReleaseState };
