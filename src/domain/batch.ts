/** Batch decider: a production order opened against one approved release, then closed. */
import type { EventOf } from '../../schemas/index.ts';
import { batchStream } from '../event/streams.ts';
import { DecisionError, type RuleCode } from './decision-error.ts';
import { defineAggregate } from './aggregate.ts';
import { releaseAggregate, type ReleaseState } from './release.ts';
import { ADMIN_EVENT_MAX_AGE_MS, eventTimeViolation, type EventTimeContext } from './event-time.ts';

export type BatchEvent = EventOf<'BatchOpened' | 'BatchClosed'>;
export interface BatchState {
  readonly status: 'unknown' | 'open' | 'closed';
  readonly opened: EventOf<'BatchOpened'>['data'] | null;
  /** When the batch was opened: no unit event of it may be older. */
  readonly openedAt?: string;
}
export const initialBatchState: BatchState = { status: 'unknown', opened: null };

export interface BatchDecisionContext extends EventTimeContext {
  readonly release: (releaseId: string) => ReleaseState;
}

export function decideBatch(event: BatchEvent, state: BatchState, ctx: BatchDecisionContext): BatchEvent[] {
  const refuse = (rule: RuleCode, message: string): never => {
    throw new DecisionError(rule, `${message} (batch ${event.data.batchId} is ${state.status})`, state.status);
  };
  const releaseState = event.type === 'BatchOpened' ? ctx.release(event.data.releaseId) : null;
  // A batch is opened after the release it builds was approved.
  const approvedAt = releaseState?.approvedAt;
  const late = eventTimeViolation(event.occurredAt, ctx, { maxAgeMs: ADMIN_EVENT_MAX_AGE_MS, ...(approvedAt ? { notBefore: { at: approvedAt, what: `the approval of release ${releaseState?.approved?.releaseId ?? ''}` } } : {}) });
  if (late) refuse(late.rule, `${event.type} refused: ${late.message}`);
  switch (event.type) {
    case 'BatchOpened': {
      if (state.status !== 'unknown') refuse('BATCH_EXISTS', 'batch already exists');
      const release = releaseState?.approved;
      if (!release) refuse('RELEASE_UNKNOWN', `release ${event.data.releaseId} is not approved`);
      if (release && release.productSku !== event.data.productSku) {
        refuse('SKU_MISMATCH', `release ${release.releaseId} is for ${release.productSku}, not ${event.data.productSku}`);
      }
      break;
    }
    case 'BatchClosed':
      if (state.status !== 'open') refuse('BATCH_NOT_OPEN', 'only an open batch can be closed');
      break;
  }
  return [event];
}

export function evolveBatch(state: BatchState, event: BatchEvent): BatchState {
  return event.type === 'BatchOpened' ? { status: 'open', opened: event.data, openedAt: event.occurredAt } : { ...state, status: 'closed' };
}

export const batchAggregate = defineAggregate<BatchEvent, BatchState>({
  name: 'batch',
  streamPrefix: batchStream(''),
  eventTypes: ['BatchOpened', 'BatchClosed'],
  initialState: initialBatchState,
  evolve: evolveBatch,
  // A batch is opened against an approved release.
  context: (event) => (event.type === 'BatchOpened' ? [releaseAggregate.stream(event.data.releaseId)] : []),
  decide: (event, state, ctx) =>
    decideBatch(event, state, { now: ctx.now, maxClockSkewMs: ctx.maxClockSkewMs, previousAt: ctx.previousAt, release: (releaseId) => ctx.stateOf(releaseAggregate.stream(releaseId)) }),
});
