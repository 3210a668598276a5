/** Given/when/then over the pure unit decider: the fixed sequence of a version 1 release (the seed's). */
import { describe, expect, it } from 'vitest';
import type { UnitEvent } from '../schemas/index.ts';
import { decideUnit, evolveUnit, initialUnitState, type UnitDecisionContext, type UnitState } from '../src/domain/unit.ts';
import { DecisionError } from '../src/domain/decision-error.ts';
import type { BatchState } from '../src/domain/batch.ts';
import { T0, unit } from './helpers/events.ts';

const openBatch = (batchId: string): BatchState => ({ status: 'open', opened: { batchId, releaseId: 'R1', line: 'L1', productSku: 'SKU', plannedQuantity: 10 } });
const ctx = (overrides: Partial<UnitDecisionContext> & { batchStatus?: () => BatchState['status'] } = {}): UnitDecisionContext => {
  const { batchStatus, ...rest } = overrides;
  return {
    now: new Date(T0.getTime() + 3_600_000),
    maxClockSkewMs: 60_000,
    station: { stationId: 'ST-01', line: 'L1', role: 'flash', registeredAt: null },
    batch: (batchId) => (batchStatus ? { ...openBatch(batchId), status: batchStatus() } : openBatch(batchId)),
    release: () => ({ approved: null, approvedAt: null }),
    ...rest,
  };
};

function given(history: UnitEvent[]) {
  const state = history.reduce<UnitState>((s, e) => evolveUnit(s, e), initialUnitState);
  return {
    when(event: UnitEvent, context = ctx()) {
      const attempt = () => decideUnit(event, state, context);
      return {
        thenAccepted(expected?: Partial<UnitState>) {
          expect(attempt()).toEqual([event]);
          if (expected) expect(evolveUnit(state, event)).toMatchObject(expected);
        },
        thenRefused(rule: string, currentState: string) {
          let error: unknown;
          try {
            attempt();
          } catch (e) {
            error = e;
          }
          expect(error).toBeInstanceOf(DecisionError);
          expect((error as DecisionError).rule).toBe(rule);
          expect((error as DecisionError).currentState).toBe(currentState);
          expect((error as DecisionError).message).toContain(currentState);
        },
      };
    },
  };
}

const throughProvisioning = () => [unit.scanned(), unit.bootloader(), unit.appVerified(), unit.provisioned()];

describe('unit decider', () => {
  it('accepts the full sequence and locks the chain at the eFuse burn', () => {
    given([]).when(unit.scanned()).thenAccepted({ status: 'scanned', batchId: 'B1' });
    given([unit.scanned()]).when(unit.bootloader()).thenAccepted({ status: 'bootloader_written' });
    given([unit.scanned(), unit.bootloader()]).when(unit.appVerified()).thenAccepted({ status: 'app_verified' });
    given([unit.scanned(), unit.bootloader(), unit.appVerified()]).when(unit.provisioned()).thenAccepted({ status: 'provisioned' });
    given(throughProvisioning()).when(unit.efuse()).thenAccepted({ status: 'locked' });
    given([...throughProvisioning(), unit.efuse()]).when(unit.shipped()).thenAccepted({ status: 'shipped' });
  });

  it('refuses any step before the scan', () => {
    given([]).when(unit.bootloader()).thenRefused('UNIT_NOT_SCANNED', 'new');
    given([]).when(unit.scrapped()).thenRefused('UNIT_NOT_SCANNED', 'new');
  });

  it('refuses skipping a step', () => {
    given([unit.scanned()]).when(unit.appVerified()).thenRefused('BOOTLOADER_REQUIRED', 'scanned');
    given([unit.scanned(), unit.bootloader()]).when(unit.provisioned()).thenRefused('APP_NOT_VERIFIED', 'bootloader_written');
    given([unit.scanned(), unit.bootloader(), unit.appVerified()]).when(unit.efuse()).thenRefused('PROVISIONING_REQUIRED', 'app_verified');
    given(throughProvisioning()).when(unit.shipped()).thenRefused('NOT_LOCKED', 'provisioned');
  });

  it('a failed verification records the failure and does not verify the app', () => {
    given([unit.scanned(), unit.bootloader()]).when(unit.appVerified('f'.repeat(64))).thenAccepted({ status: 'bootloader_written', failures: 1 });
    given([unit.scanned(), unit.bootloader(), unit.appVerified('f'.repeat(64))]).when(unit.provisioned()).thenRefused('APP_NOT_VERIFIED', 'bootloader_written');
  });

  it('a failed re-verification withdraws an earlier pass, so no eFuse burn follows it', () => {
    const history = [unit.scanned(), unit.bootloader(), unit.appVerified(), unit.appVerified('f'.repeat(64))];
    given(history).when(unit.provisioned()).thenRefused('APP_NOT_VERIFIED', 'bootloader_written');
  });

  it('after the eFuse burn no firmware step is accepted', () => {
    const locked = [...throughProvisioning(), unit.efuse()];
    given(locked).when(unit.bootloader()).thenRefused('CHAIN_LOCKED', 'locked');
    given(locked).when(unit.appVerified()).thenRefused('CHAIN_LOCKED', 'locked');
    given(locked).when(unit.provisioned()).thenRefused('CHAIN_LOCKED', 'locked');
    given(locked).when(unit.efuse()).thenRefused('CHAIN_LOCKED', 'locked');
    given(locked).when(unit.reworked()).thenRefused('CHAIN_LOCKED', 'locked');
  });

  it('rewriting the bootloader before the burn resets verification', () => {
    given([unit.scanned(), unit.bootloader(), unit.appVerified(), unit.bootloader()]).when(unit.provisioned()).thenRefused('APP_NOT_VERIFIED', 'bootloader_written');
  });

  it('rework reopens an unlocked unit and counts the attempt', () => {
    const failed = [unit.scanned(), unit.bootloader(), unit.appVerified('f'.repeat(64))];
    given(failed).when(unit.reworked()).thenAccepted({ status: 'reworked', attempt: 2, failures: 1 });
    given([...failed, unit.reworked()]).when(unit.bootloader()).thenAccepted({ status: 'bootloader_written', attempt: 2 });
    given([...failed, unit.reworked()]).when(unit.scanned()).thenAccepted({ status: 'scanned', attempt: 2 });
    given([...failed, unit.reworked(), unit.reworked()]).when(unit.scanned()).thenAccepted({ attempt: 3 });
  });

  it('scrapped and shipped are terminal', () => {
    const scrapped = [unit.scanned(), unit.scrapped()];
    given(scrapped).when(unit.bootloader()).thenRefused('UNIT_SCRAPPED', 'scrapped');
    given(scrapped).when(unit.reworked()).thenRefused('UNIT_SCRAPPED', 'scrapped');
    given(scrapped).when(unit.scrapped()).thenRefused('UNIT_SCRAPPED', 'scrapped');
    const shipped = [...throughProvisioning(), unit.efuse(), unit.shipped()];
    given(shipped).when(unit.scrapped()).thenRefused('UNIT_SHIPPED', 'shipped');
    given(shipped).when(unit.shipped()).thenRefused('UNIT_SHIPPED', 'shipped');
  });

  it('step failures are recorded in any open state', () => {
    given([unit.scanned()]).when(unit.failed()).thenAccepted({ status: 'scanned', failures: 1 });
    given([...throughProvisioning(), unit.efuse()]).when(unit.failed('efuse')).thenAccepted({ status: 'locked', failures: 1 });
  });

  it('a unit is scanned once per attempt, into an open batch, by the signing station', () => {
    given([unit.scanned()]).when(unit.scanned()).thenRefused('UNIT_ALREADY_SCANNED', 'scanned');
    given([]).when(unit.scanned(), ctx({ batchStatus: () => 'closed' })).thenRefused('BATCH_NOT_OPEN', 'new');
    given([]).when(unit.scanned(), ctx({ batchStatus: () => 'unknown' })).thenRefused('BATCH_NOT_OPEN', 'new');
    const forged = { ...unit.scanned(), source: { kind: 'station' as const, id: 'ST-02' } };
    given([]).when(forged, ctx({ station: { stationId: 'ST-02', line: 'L1', role: 'flash', registeredAt: null } })).thenRefused('STATION_MISMATCH', 'new');
    const failed = [unit.scanned('B1'), unit.reworked()];
    given(failed).when(unit.scanned('B2')).thenRefused('BATCH_MISMATCH', 'reworked');
  });

  it('time is passed in: an event from the future beyond the allowed skew is refused', () => {
    const now = new Date(T0.getTime() - 3_600_000);
    given([]).when(unit.scanned(), ctx({ now, maxClockSkewMs: 60_000 })).thenRefused('CLOCK_SKEW', 'new');
    given([]).when(unit.scanned(), ctx({ now, maxClockSkewMs: 24 * 3_600_000 })).thenAccepted();
  });
});
