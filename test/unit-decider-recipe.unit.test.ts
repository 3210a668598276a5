/**
 * The unit decider enforcing a release's recipe (the shipped ESP32-S3 host-based Secure Boot v2 + flash
 * encryption flow): order, authorisation of irreversible steps, comparisons against the release, the lock,
 * rework, and the invariants that hold for every recipe.
 */
import { describe, expect, it } from 'vitest';
import { ReleaseApprovedV2, type UnitEvent } from '../schemas/index.ts';
import { lpc55s69Sb21Recipe } from '../src/domain/recipes.ts';
import { decideUnit, evolveUnit, initialUnitState, type StationFacts, type UnitDecisionContext, type UnitState } from '../src/domain/unit.ts';
import { DecisionError } from '../src/domain/decision-error.ts';
import type { BatchState } from '../src/domain/batch.ts';
import type { ReleaseState } from '../src/domain/release.ts';
import { nextStep, type RecipeRelease } from '../src/domain/recipe.ts';
import { ev, T0, unit } from './helpers/events.ts';
import { firstPass, hex, image, recipeUnit, s3Release } from './helpers/recipe.ts';

const station = (stationId = 'ST-01', line = 'L1', role: StationFacts['role'] = 'flash'): StationFacts => ({ stationId, line, role, registeredAt: null });
const batch = (release: RecipeRelease = s3Release): BatchState => ({ status: 'open', opened: { batchId: 'B2', releaseId: release.releaseId, line: 'L1', productSku: 'SKU', plannedQuantity: 10 } });

function context(event: UnitEvent, over: { release?: RecipeRelease; station?: StationFacts } = {}): UnitDecisionContext {
  const release = over.release ?? s3Release;
  return {
    now: new Date(T0.getTime() + 86_400_000),
    maxClockSkewMs: 60_000,
    station: over.station ?? station(event.source.id),
    batch: () => batch(release),
    release: (id): ReleaseState => ({ approved: id === release.releaseId ? release : null, approvedAt: null }),
  };
}

const fold = (events: readonly UnitEvent[]) => events.reduce<UnitState>((s, e) => evolveUnit(s, e), initialUnitState);

function decide(history: readonly UnitEvent[], event: UnitEvent, over: Parameters<typeof context>[1] = {}): string {
  try {
    decideUnit(event, fold(history), context(event, over));
    return 'accepted';
  } catch (e) {
    if (e instanceof DecisionError) return e.rule;
    throw e;
  }
}

/** Folds the history, checking that the decider accepted every event of it. */
function accepted(history: readonly UnitEvent[], over: Parameters<typeof context>[1] = {}): UnitState {
  history.forEach((e, i) => expect(decide(history.slice(0, i), e, over), `event ${i} ${e.type} ${'step' in e.data ? e.data.step : ''}`).toBe('accepted'));
  return fold(history);
}

const u = recipeUnit();

describe('unit decider, recipe', () => {
  it('accepts the whole recipe in order and ships only when every step is done', () => {
    const pass = firstPass(u);
    const state = accepted(pass);
    expect(state).toMatchObject({ status: 'locked', model: 'recipe', releaseId: 'R2', station: 'ST-01', failures: 0, mac: 'f4:12:fa:43:5b:20', chipId: hex('0', 32) });
    expect(nextStep(s3Release.recipe, state.progress)).toBeNull();
    expect(decide(pass, u.shipped())).toBe('accepted');
    // The lock is done but the read-back after it is not: not yet.
    expect(decide(firstPass(u, 'confirm-security-info'), u.shipped())).toBe('RECIPE_INCOMPLETE');
    expect(decide(firstPass(u, 'enable-secure-download'), u.shipped())).toBe('NOT_LOCKED');
  });

  it('refuses a step out of recipe order, naming the next one', () => {
    const scanned = [u.scanned()];
    expect(decide(scanned, u.written())).toBe('STEP_OUT_OF_ORDER');
    expect(decide(firstPass(u, 'burn-secure-boot'), u.securityRead('read-back-efuses'))).toBe('STEP_OUT_OF_ORDER');
    let message = '';
    try {
      decideUnit(u.written(), fold(scanned), context(u.written()));
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/the next step is read-mac \(identity\)/);
    expect(decide(scanned, { ...u.identity('no-such-step') })).toBe('STEP_UNKNOWN');
    // Each kind of step is recorded by its own event type.
    expect(decide(scanned, u.identity('write-images'))).toBe('STEP_UNKNOWN');
  });

  it('an irreversible step needs the ledger to accept its StepStarted first, and happens once', () => {
    const before = firstPass(u, 'start-burn-flash-encryption');
    expect(decide(before, u.burned('burn-flash-encryption'))).toBe('STEP_NOT_STARTED');
    expect(decide(before, u.started('burn-secure-boot'))).toBe('STEP_OUT_OF_ORDER');
    expect(decide(before, u.started('read-mac'))).toBe('STEP_UNKNOWN');
    const burned = firstPass(u, 'start-burn-secure-boot');
    expect(decide(burned, u.started('burn-flash-encryption'))).toBe('STEP_OUT_OF_ORDER');
    expect(decide(burned, u.burned('burn-flash-encryption'))).toBe('STEP_OUT_OF_ORDER');
    // A failed burn withdraws the authorisation: the station must ask again.
    const failed = [...firstPass(u, 'burn-flash-encryption'), u.failed('burn-flash-encryption')];
    expect(decide(failed, u.burned('burn-flash-encryption'))).toBe('STEP_NOT_STARTED');
    expect(decide(failed, u.started('burn-flash-encryption'))).toBe('accepted');
  });

  it('a burn must burn what the recipe says', () => {
    const started = firstPass(u, 'burn-flash-encryption');
    expect(decide(started, u.burned('burn-flash-encryption', [{ name: 'SPI_BOOT_CRYPT_CNT', value: '1' }]))).toBe('FUSES_MISMATCH');
    expect(decide(started, u.burned('burn-flash-encryption'))).toBe('accepted');
  });

  it('a security-state read must report every check of its step; a failed read is a failure, not progress', () => {
    const before = firstPass(u, 'read-back-efuses');
    const read = u.securityRead('read-back-efuses');
    const partial = { ...read, data: { ...read.data, checks: read.data.checks.slice(1) } } as UnitEvent;
    expect(decide(before, partial)).toBe('CHECKS_MISMATCH');
    // eFuses that read back unburned after a "successful" burn.
    const unburned = u.securityRead('read-back-efuses', { SECURE_BOOT_EN: false });
    expect(decide(before, unburned)).toBe('accepted');
    const after = fold([...before, unburned]);
    expect(after.failures).toBe(1);
    expect(nextStep(s3Release.recipe, after.progress)?.id).toBe('read-back-efuses');
    expect(decide([...before, unburned], u.written())).toBe('STEP_OUT_OF_ORDER');
  });

  it('a verification compares against the release: the expected value must be the release hash', () => {
    const before = firstPass(u, 'read-back-images');
    const v = u.verified('read-back-images');
    const forged = { ...v, data: { ...v.data, images: v.data.images.map((i) => ({ ...i, expected: hex('5'), reported: hex('5') })) } } as UnitEvent;
    expect(decide(before, forged)).toBe('VERIFY_MISMATCH');
    const boot = firstPass(u, 'boot-log');
    const ev = u.verified('boot-log');
    const againstBin = { ...ev, data: { ...ev.data, images: [{ name: 'app', expected: s3Release.images[2]?.sha256 as string, reported: hex('a', 9), comparedChars: 9, result: 'pass' }] } } as UnitEvent;
    expect(decide(boot, againstBin)).toBe('VERIFY_MISMATCH');
  });

  it('a device reporting another ELF hash fails the boot-log step, and nothing can be locked', () => {
    const before = firstPass(u, 'boot-log');
    const wrong = u.verified('boot-log', { app: hex('4', 16) });
    expect(wrong.data.images[0]).toMatchObject({ comparedChars: 16, result: 'fail' });
    expect(decide(before, wrong)).toBe('accepted');
    expect(decide([...before, wrong], u.started('enable-secure-download'))).toBe('STEP_OUT_OF_ORDER');
  });

  it('the image written may differ from the release (it is recorded), but then no read-back can pass', () => {
    const before = firstPass(u, 'write-images');
    const drifted = u.written('write-images', { app: hex('9') });
    expect(decide(before, drifted)).toBe('accepted');
    const readBack = u.verified('read-back-images', { app: hex('9') });
    expect(readBack.data.result).toBe('fail');
    expect(decide([...before, drifted], readBack)).toBe('accepted');
    expect(fold([...before, drifted, readBack]).failures).toBe(1);
  });

  it('nothing is written after the lock; reads still are', () => {
    const locked = firstPass(u);
    expect(decide(locked, u.written())).toBe('CHAIN_LOCKED');
    expect(decide(locked, u.provisioned())).toBe('CHAIN_LOCKED');
    expect(decide(locked, u.started('burn-secure-boot'))).toBe('STEP_OUT_OF_ORDER');
    expect(decide(locked, u.reworked())).toBe('CHAIN_LOCKED');
    expect(decide(locked, u.identity('read-mac'))).toBe('accepted');
    expect(decide(locked, u.securityRead('confirm-security-info'))).toBe('accepted');
    expect(decide(locked, u.scrapped())).toBe('accepted');
  });

  it('rewriting before the lock undoes the verification that followed it', () => {
    const verified = firstPass(u, 'write-nvs');
    const rewritten = [...verified, u.written()];
    expect(decide(verified, u.written())).toBe('accepted');
    expect(nextStep(s3Release.recipe, fold(rewritten).progress)?.id).toBe('read-back-images');
    expect(decide(rewritten, u.provisioned())).toBe('STEP_OUT_OF_ORDER');
  });

  it('the lock requires every image verified, even under a recipe that slipped past validation', () => {
    const bare: RecipeRelease = {
      ...s3Release,
      recipe: { ...s3Release.recipe, steps: [{ id: 'write-images', kind: 'write', images: ['app'] }, { id: 'lock', kind: 'lock', fuses: [{ name: 'ENABLE_SECURITY_DOWNLOAD', value: '1' }], images: [] }] },
    };
    const history = [u.scanned(), { ...u.written(), data: { ...u.written().data, step: 'write-images', images: [{ name: 'app', offset: 0x10000, sha256: hex('a'), sizeBytes: 4096 }] } } as UnitEvent];
    expect(decide(history, { ...u.started('lock') }, { release: bare })).toBe('NOT_VERIFIED');
  });

  it('rework before the lock reopens the unit for a new scan; burned steps stay burned', () => {
    const failed = [...firstPass(u, 'boot-log'), u.verified('boot-log', { app: hex('4', 9) })];
    expect(decide(failed, u.reworked())).toBe('accepted');
    const reworked = [...failed, u.reworked()];
    expect(fold(reworked)).toMatchObject({ status: 'reworked', attempt: 2, passFailures: 0, failures: 1, station: null });
    expect(decide(reworked, u.identity('read-mac'))).toBe('UNIT_NOT_SCANNED');
    // Any flashing station of the line may take the unit for its next pass.
    const st2 = recipeUnit('SN2', 'ST-02');
    expect(decide(reworked, st2.scanned('B2', 'R2', 'ST-02'))).toBe('accepted');
    const second = [...reworked, st2.scanned('B2', 'R2', 'ST-02'), st2.identity('read-mac'), st2.identity('read-unique-id', null, hex('0', 32))];
    const state = accepted(second);
    // The burns of the first pass are not repeated: after the identity reads comes the eFuse read-back.
    expect(nextStep(s3Release.recipe, state.progress)?.id).toBe('read-back-efuses');
    expect(decide(second, st2.started('burn-flash-encryption'))).toBe('STEP_OUT_OF_ORDER');
    expect(decide(second, u.securityRead('read-back-efuses'))).toBe('STATION_NOT_OWNER');
  });

  it('scrapped and shipped are terminal', () => {
    const scrapped = [u.scanned(), u.scrapped()];
    expect(decide(scrapped, u.identity())).toBe('UNIT_SCRAPPED');
    expect(decide(scrapped, u.scanned())).toBe('UNIT_SCRAPPED');
    const shipped = [...firstPass(u), u.shipped()];
    expect(decide(shipped, u.scrapped())).toBe('UNIT_SHIPPED');
    expect(decide(shipped, u.identity())).toBe('UNIT_SHIPPED');
  });

  it('the fixed sequence and the recipe do not mix', () => {
    expect(decide([], unit.scanned('B2'))).toBe('RECIPE_MISMATCH');
    expect(decide([u.scanned()], unit.bootloader())).toBe('RECIPE_MISMATCH');
    expect(decide([u.scanned()], unit.provisioned())).toBe('RECIPE_MISMATCH');
    // A scan names the batch's release.
    expect(decide([], u.scanned('B2', 'R-other'))).toBe('RELEASE_MISMATCH');
  });

  it('the NXP recipe: an image delivered inside an SB2.1 container is verified by reading it back', () => {
    const nxp: RecipeRelease = {
      releaseId: 'R2',
      productSku: 'SKU',
      version: '1',
      images: [image('firmware-sb', 0, '1'), image('app', 0, '2', { deliveredIn: 'firmware-sb' }), image('cmpa', 0x9e400, '3', { sizeBytes: 512 })],
      recipe: lpc55s69Sb21Recipe(),
    };
    const ctx = { serial: 'N1', operator: 'op', durationMs: 10, tools: [] };
    const o = { source: 'ST-01' };
    const scan = u.scanned();
    const history: UnitEvent[] = [
      { ...scan, data: { ...scan.data, serial: 'N1' } } as UnitEvent,
      ev('IdentityRead', { ...ctx, step: 'read-uid', chipId: '0c1023417b563a50bc8660c7bd9e2267', mac: null }, o),
      ev('SecurityStateRead', { ...ctx, step: 'check-unsecure', fields: [{ name: 'Security State', value: 'UNSECURE' }], checks: [{ field: 'Security State', equals: 'UNSECURE', actual: 'UNSECURE', met: true }], result: 'pass' }, o),
      ev('StepStarted', { serial: 'N1', step: 'provision-keystore', operator: 'op' }, o),
      ev('EfuseBurned', { ...ctx, step: 'provision-keystore', fuses: [], keys: [{ block: 'KEYSTORE', purpose: 'SBKEK' }] }, o),
      ev('ImagesWritten', { ...ctx, step: 'receive-sb', images: [{ name: 'firmware-sb', offset: 0, sha256: hex('1'), sizeBytes: 4096 }] }, o),
    ];
    const over = { release: nxp };
    const lockStart = ev('StepStarted', { serial: 'N1', step: 'seal-cmpa', operator: 'op' }, o);
    expect(decide(history, lockStart, over)).toBe('STEP_OUT_OF_ORDER');
    history.push(ev('ImagesVerified', { ...ctx, step: 'read-back-app', method: 'readback_sha256', images: [{ name: 'app', expected: hex('2'), reported: hex('2'), comparedChars: 64, result: 'pass' }], result: 'pass' }, o));
    history.push(lockStart);
    history.push(ev('UnitLocked', { ...ctx, step: 'seal-cmpa', fuses: [], images: [{ name: 'cmpa', offset: 0x9e400, sha256: hex('3'), sizeBytes: 512 }] }, o));
    const state = accepted(history, over);
    expect(state).toMatchObject({ status: 'locked', chipId: '0c1023417b563a50bc8660c7bd9e2267', mac: null });
    expect(nextStep(nxp.recipe, state.progress)?.id).toBe('read-back-cmpa');
    // The sealed page must be the release's.
    const wrongCmpa = ev('UnitLocked', { ...ctx, step: 'seal-cmpa', fuses: [], images: [{ name: 'cmpa', offset: 0x9e400, sha256: hex('4'), sizeBytes: 512 }] }, o);
    expect(decide(history.slice(0, -1), wrongCmpa, over)).toBe('IMAGE_MISMATCH');
  });
});

describe('recipe schema (what ReleaseApproved v2 refuses)', () => {
  const issues = (release: unknown) => ReleaseApprovedV2.safeParse(release).error?.issues.map((i) => i.message) ?? [];
  const steps = s3Release.recipe.steps;
  const withSteps = (s: unknown[]) => ({ ...s3Release, recipe: { ...s3Release.recipe, steps: s } });

  it('accepts the shipped ESP32-S3 recipe', () => {
    expect(issues(s3Release)).toEqual([]);
  });

  it('refuses an eFuse value beyond 64 bits, so no station can be told to burn one', () => {
    const burn = steps.find((s) => s.id === 'burn-secure-boot') as Extract<(typeof steps)[number], { kind: 'burn' }>;
    const bad = withSteps(steps.map((s) => (s.id === burn.id ? { ...burn, fuses: [{ name: 'SECURE_BOOT_EN', value: `0x${'f'.repeat(17)}` }] } : s)));
    expect(issues(bad)).toContain('a decimal or 0x-hex value, at most 64 bits');
  });

  it('refuses what the decider could not enforce: unverified images, writes after the lock, burns not read back, a boot log without an ELF', () => {
    expect(issues(withSteps(steps.filter((s) => s.id !== 'read-back-images')))).toEqual(expect.arrayContaining(['image bootloader is written but not verified before the lock step enable-secure-download', 'image partition-table is not verified after its last write']));
    const lockAt = steps.findIndex((s) => s.kind === 'lock');
    const writeAfter = [...steps.slice(0, lockAt + 1), { id: 'late-write', kind: 'write', images: ['app'] }, ...steps.slice(lockAt + 1)];
    expect(issues(withSteps(writeAfter))).toContain('write step late-write comes after the lock step: nothing is written after the lock');
    expect(issues(withSteps(steps.filter((s) => s.id !== 'read-back-efuses')))).toEqual(expect.arrayContaining(['eFuse SECURE_BOOT_EN burned by burn-secure-boot is not read back by a security_state step before the lock']));
    const noElf = { ...s3Release, images: s3Release.images.map((i) => ({ name: i.name, offset: i.offset, sha256: i.sha256, sha512: i.sha512, sizeBytes: i.sizeBytes })) };
    expect(issues(noElf)).toContain('image app has no elfSha256, so its boot log cannot be checked');
    expect(issues(withSteps([...steps, { ...steps[0], id: 'read-mac' }]))).toContain('step id read-mac is used twice');
  });
});
