/**
 * The unit decider: the signed-firmware sequence every unit must follow on the line.
 *
 *   scan → bootloader written → application verified → provisioning → eFuse burn (locks the chain) → ship
 *
 * Rewriting an earlier step before the burn resets what came after it. After the burn no firmware step is
 * accepted. Scrapped and shipped are terminal. Rework reopens an unlocked unit and counts the attempt.
 * Pure: time and the batch's status are passed in (the aggregate below declares the batch as context).
 */
import { UNIT_EVENT_TYPES, type UnitEvent } from '../../schemas/index.ts';
import { unitStream } from '../event/streams.ts';
import { DecisionError, type RuleCode } from './decision-error.ts';
import { defineAggregate } from './aggregate.ts';
import { batchAggregate } from './batch.ts';

export type UnitStatus =
  | 'new'
  | 'scanned'
  | 'reworked'
  | 'bootloader_written'
  | 'app_verified'
  | 'provisioned'
  | 'locked'
  | 'shipped'
  | 'scrapped';

export interface UnitState {
  readonly status: UnitStatus;
  readonly serial: string | null;
  readonly batchId: string | null;
  /** 1 for the first pass, +1 per rework. */
  readonly attempt: number;
  readonly failures: number;
}

export const initialUnitState: UnitState = { status: 'new', serial: null, batchId: null, attempt: 1, failures: 0 };

export interface UnitDecisionContext {
  readonly now: Date;
  /** How far an event's occurredAt may lie ahead of the ledger's clock. */
  readonly maxClockSkewMs: number;
  readonly batchStatus: (batchId: string) => 'open' | 'closed' | 'unknown';
}

const UNLOCKED_WORK: readonly UnitStatus[] = ['scanned', 'reworked', 'bootloader_written', 'app_verified', 'provisioned'];

export function decideUnit(event: UnitEvent, state: UnitState, ctx: UnitDecisionContext): UnitEvent[] {
  const refuse = (rule: RuleCode, message: string): never => {
    throw new DecisionError(rule, `${message} (unit ${event.data.serial} is ${state.status})`, state.status);
  };
  if (Date.parse(event.occurredAt) > ctx.now.getTime() + ctx.maxClockSkewMs) {
    refuse('CLOCK_SKEW', `occurredAt ${event.occurredAt} is ahead of the ledger clock ${ctx.now.toISOString()}`);
  }
  if (state.status === 'scrapped') refuse('UNIT_SCRAPPED', `${event.type} refused: the unit was scrapped`);
  if (state.status === 'shipped') refuse('UNIT_SHIPPED', `${event.type} refused: the unit has shipped`);
  if (state.status === 'new' && event.type !== 'UnitScanned') {
    refuse('UNIT_NOT_SCANNED', `${event.type} refused: the unit must be scanned first`);
  }

  const allowedIn = (rule: RuleCode, statuses: readonly UnitStatus[], what: string) => {
    if (!statuses.includes(state.status)) {
      if (state.status === 'locked') refuse('CHAIN_LOCKED', `${event.type} refused: eFuses are burned, the firmware chain is locked`);
      refuse(rule, `${event.type} refused: ${what}`);
    }
  };

  switch (event.type) {
    case 'UnitScanned': {
      allowedIn('UNIT_ALREADY_SCANNED', ['new', 'reworked'], 'the unit is already scanned and in progress');
      const batch = ctx.batchStatus(event.data.batchId);
      if (batch !== 'open') refuse('BATCH_NOT_OPEN', `UnitScanned refused: batch ${event.data.batchId} is ${batch}`);
      if (event.data.station !== event.source.id) {
        refuse('STATION_MISMATCH', `UnitScanned refused: data.station ${event.data.station} is not the signing station ${event.source.id}`);
      }
      if (state.batchId !== null && state.batchId !== event.data.batchId) {
        refuse('BATCH_MISMATCH', `UnitScanned refused: the unit belongs to batch ${state.batchId}`);
      }
      break;
    }
    case 'BootloaderWritten':
      allowedIn('OUT_OF_SEQUENCE', UNLOCKED_WORK, 'bootloader can only be written to a scanned unit');
      break;
    case 'AppVerified':
      allowedIn('BOOTLOADER_REQUIRED', ['bootloader_written', 'app_verified', 'provisioned'], 'write the bootloader first');
      break;
    case 'ProvisioningApplied':
      allowedIn('APP_NOT_VERIFIED', ['app_verified', 'provisioned'], 'the application must be verified against its image first');
      break;
    case 'EfuseBurned':
      allowedIn('PROVISIONING_REQUIRED', ['provisioned'], 'apply provisioning before burning eFuses');
      break;
    case 'StepFailed':
      break;
    case 'UnitReworked':
      allowedIn('OUT_OF_SEQUENCE', UNLOCKED_WORK, 'only a unit in progress can be reworked');
      break;
    case 'UnitScrapped':
      break;
    case 'UnitShipped':
      if (state.status !== 'locked') refuse('NOT_LOCKED', 'UnitShipped refused: eFuses must be burned before shipping');
      break;
  }
  return [event];
}

export function evolveUnit(state: UnitState, event: UnitEvent): UnitState {
  switch (event.type) {
    case 'UnitScanned':
      return { ...state, status: 'scanned', serial: event.data.serial, batchId: event.data.batchId };
    case 'BootloaderWritten':
      return { ...state, status: 'bootloader_written' };
    case 'AppVerified':
      return event.data.result === 'pass'
        ? { ...state, status: 'app_verified' }
        : { ...state, status: 'bootloader_written', failures: state.failures + 1 };
    case 'ProvisioningApplied':
      return { ...state, status: 'provisioned' };
    case 'EfuseBurned':
      return { ...state, status: 'locked' };
    case 'StepFailed':
      return { ...state, failures: state.failures + 1 };
    case 'UnitReworked':
      return { ...state, status: 'reworked', attempt: state.attempt + 1 };
    case 'UnitScrapped':
      return { ...state, status: 'scrapped' };
    case 'UnitShipped':
      return { ...state, status: 'shipped' };
  }
}

export const unitAggregate = defineAggregate<UnitEvent, UnitState>({
  name: 'unit',
  streamPrefix: unitStream(''),
  eventTypes: UNIT_EVENT_TYPES,
  initialState: initialUnitState,
  evolve: evolveUnit,
  // A scan puts the unit into a batch, which must be open.
  context: (event) => (event.type === 'UnitScanned' ? [batchAggregate.stream(event.data.batchId)] : []),
  decide: (event, state, ctx) =>
    decideUnit(event, state, {
      now: ctx.now,
      maxClockSkewMs: ctx.maxClockSkewMs,
      batchStatus: (batchId) => ctx.stateOf(batchAggregate.stream(batchId)).status,
    }),
});
