/**
 * The interlock's verdict for a recipe unit (projections/readiness.ts over the unit-state projection): ready only
 * after every step of its release's recipe in the current attempt, every verification passed, and the lock.
 */
import { describe, expect, it } from 'vitest';
import type { LedgerEvent } from '../schemas/index.ts';
import { unitStateProjection, type UnitView } from '../projections/unit-state.ts';
import type { ReleaseDoc, UnitFacts } from '../projections/production.ts';
import { unitReadiness } from '../projections/readiness.ts';
import { firstPass, hex, recipeUnit, s3Release } from './helpers/recipe.ts';

const release: ReleaseDoc = { kind: 'release', releaseId: 'R2', version: s3Release.version, expected: {}, recipe: s3Release.recipe };

function viewOf(events: readonly LedgerEvent[]): UnitView | null {
  let view: UnitView | null = null;
  events.forEach((event, i) => {
    view = unitStateProjection.evolve(view, event, { stream: 'unit-SN2', revision: BigInt(i), position: BigInt(i), digest: hex(String(i % 10)) }, () => null);
  });
  return view;
}

const verdict = (events: readonly LedgerEvent[], facts: UnitFacts | null = null) => unitReadiness('SN2', { unit: viewOf(events), facts, release });
const codes = (events: readonly LedgerEvent[]) => verdict(events).reasons.map((r) => r.code);

describe('readiness of a recipe unit', () => {
  it('ready after the whole recipe; not before its last step, nor before the lock', () => {
    const u = recipeUnit('SN2');
    expect(verdict(firstPass(u))).toEqual({ serial: 'SN2', ready: true, reasons: [] });
    const v = recipeUnit('SN2');
    const beforeConfirm = verdict(firstPass(v, 'confirm-security-info'));
    expect(beforeConfirm.ready).toBe(false);
    expect(beforeConfirm.reasons).toEqual([{ code: 'HISTORY_INCOMPLETE', message: 'missing in the current attempt: confirm-security-info' }]);
    const w = recipeUnit('SN2');
    expect(codes(firstPass(w, 'enable-secure-download'))).toEqual(['HISTORY_INCOMPLETE', 'NOT_LOCKED']);
  });

  it('a failed read-back or security check is NOT_VERIFIED, naming the image and the step; a rework and a new pass clear it', () => {
    const u = recipeUnit('SN2');
    const failed = [...firstPass(u, 'read-back-images'), u.verified('read-back-images', { app: hex('9') })];
    const r = verdict(failed);
    expect(r.reasons[0]).toEqual({ code: 'NOT_VERIFIED', message: 'image app failed its verification at step read-back-images (readback_sha256): the device reported 999999999999…' });
    expect(r.reasons.map((x) => x.code)).toEqual(['NOT_VERIFIED', 'HISTORY_INCOMPLETE', 'NOT_LOCKED']);
    const again = [...failed, u.reworked(), u.scanned(), ...firstPass(u).slice(1).filter((e) => !('step' in e.data) || !String(e.data.step).includes('burn-'))];
    expect(verdict(again)).toMatchObject({ ready: true, reasons: [] });
    const s = recipeUnit('SN2');
    const step = s3Release.recipe.steps.find((x) => x.id === 'confirm-security-info');
    const field = step?.kind === 'security_state' ? (step.expect[0]?.field as string) : '';
    expect(verdict([...firstPass(s, 'confirm-security-info'), s.securityRead('confirm-security-info', { [field]: 'tampered' })]).reasons[0]).toEqual({
      code: 'NOT_VERIFIED',
      message: 'the security state read back at step confirm-security-info does not match the release',
    });
  });

  it('a drift comes first, then what it made fail; a scrapped unit is never ready', () => {
    const u = recipeUnit('SN2');
    const events = [...firstPass(u, 'read-back-images'), u.verified('read-back-images', { app: hex('9') })];
    const facts = { deviations: [{ dimension: 'application', value: hex('9'), expected: hex('a'), station: 'ST-01', at: '2026-03-02T08:00:00.000Z' }] } as unknown as UnitFacts;
    expect(verdict(events, facts).reasons.map((r) => r.code)).toEqual(['DRIFTED', 'NOT_VERIFIED', 'HISTORY_INCOMPLETE', 'NOT_LOCKED']);
    const s = recipeUnit('SN2');
    expect(codes([...firstPass(s), s.scrapped()])[0]).toBe('UNIT_SCRAPPED');
  });
});
