/** The CRA deciders: SBOM attachment and support periods on a release, vulnerabilities, field updates of units. */
import { describe, expect, it } from 'vitest';
import { decideRelease, evolveRelease, initialReleaseState, type ReleaseEvent, type ReleaseState } from '../../src/domain/release.ts';
import { vulnerabilityAggregate, initialVulnerabilityState, type VulnerabilityEvent } from '../../src/domain/vulnerability.ts';
import { decideUnit, evolveUnit, initialUnitState, type UnitDecisionContext, type UnitState } from '../../src/domain/unit.ts';
import { DecisionError } from '../../src/domain/decision-error.ts';
import type { DecisionContext, StreamRef } from '../../src/domain/aggregate.ts';
import type { BatchState } from '../../src/domain/batch.ts';
import { parseEventData, type UnitEvent } from '../../schemas/index.ts';
import { T0, ev, hash, unit } from '../helpers/events.ts';

const NOW = new Date(T0.getTime() + 3_600_000);
const at = (previousAt: string | null = null) => ({ now: NOW, maxClockSkewMs: 5 * 60_000, previousAt });
const refusal = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    if (e instanceof DecisionError) return e.rule;
    throw e;
  }
  return 'accepted';
};

const v1Release = (releaseId: string, app: string, sbomSha256?: string) => ({
  releaseId,
  productSku: 'SKU',
  version: releaseId,
  bootloaderSha256: hash('b'),
  applicationSha256: hash(app),
  provisioningTemplateSha256: hash('t'),
  signingKeyDigest: hash('d'),
  efuseProfile: 'sb',
  ...(sbomSha256 ? { sbomSha256 } : {}),
});

describe('release: SBOM and support period', () => {
  const approved = ev('ReleaseApproved', v1Release('R1', 'a', hash('5')));
  const fold = (events: ReleaseEvent[]) => events.reduce(evolveRelease, initialReleaseState);
  const attach = (sha256: string) => ev('SbomAttached', { releaseId: 'R1', sha256, format: 'SPDX', specVersion: '2.3', encoding: 'tag-value', sizeBytes: 100, components: [] });

  it('attaches the SBOM the approval named, once, and only after the approval', () => {
    expect(refusal(() => decideRelease(attach(hash('5')), fold([]), at()))).toBe('RELEASE_UNKNOWN');
    expect(refusal(() => decideRelease(attach(hash('6')), fold([approved]), at()))).toBe('SBOM_MISMATCH');
    expect(refusal(() => decideRelease(attach(hash('5')), fold([approved]), at()))).toBe('accepted');
    expect(refusal(() => decideRelease(attach(hash('5')), fold([approved, attach(hash('5'))]), at()))).toBe('SBOM_EXISTS');
    const withoutSbom = ev('ReleaseApproved', v1Release('R1', 'a'));
    expect(refusal(() => decideRelease(attach(hash('5')), fold([withoutSbom]), at()))).toBe('SBOM_NOT_DECLARED');
    expect(fold([approved, attach(hash('5'))]).sbom).toMatchObject({ sha256: hash('5'), format: 'SPDX', specVersion: '2.3' });
  });

  it('sets a support end that may be extended, never shortened, never before the approval', () => {
    const set = (supportEnd: string) => ev('SupportPeriodSet', { releaseId: 'R1', supportEnd });
    expect(refusal(() => decideRelease(set('2031-03'), fold([]), at()))).toBe('RELEASE_UNKNOWN');
    expect(refusal(() => decideRelease(set('2025-12'), fold([approved]), at()))).toBe('SUPPORT_END_BEFORE_APPROVAL');
    expect(refusal(() => decideRelease(set('2031-03'), fold([approved]), at()))).toBe('accepted');
    const state: ReleaseState = fold([approved, set('2031-03')]);
    expect(state.supportEnd).toBe('2031-03');
    expect(refusal(() => decideRelease(set('2031-02'), state, at()))).toBe('SUPPORT_PERIOD_SHORTENED');
    expect(refusal(() => decideRelease(set('2032-01'), state, at()))).toBe('accepted');
  });

  it('the schema takes month and year only', () => {
    expect(parseEventData('SupportPeriodSet', { releaseId: 'R1', supportEnd: '2031-13' }).ok).toBe(false);
    expect(parseEventData('SupportPeriodSet', { releaseId: 'R1', supportEnd: '2031-12-31' }).ok).toBe(false);
  });
});

describe('vulnerability', () => {
  const approvedR1: ReleaseState = { ...initialReleaseState, approved: v1Release('R1', 'a'), approvedAt: T0.toISOString() };
  const ctx = (releases: Record<string, ReleaseState> = { R1: approvedR1 }, previousAt: string | null = null): DecisionContext => ({
    ...at(previousAt),
    stationsHoldingKey: () => [],
    stateOf<S>(ref: StreamRef<S>): S {
      const id = ref.stream.replace(/^release-/, '');
      return (releases[id] ?? initialReleaseState) as S;
    },
  });
  const decide = (event: VulnerabilityEvent, state = initialVulnerabilityState, c = ctx()) => refusal(() => vulnerabilityAggregate.decide(event, state, c));
  const assessed = (releaseIds: string[], extra: Record<string, unknown> = {}) =>
    ev('VulnerabilityAssessed', { vulnerabilityId: 'CVE-2024-23775', components: [{ kind: 'purl', purl: 'pkg:github/Mbed-TLS/mbedtls', range: 'vers:semver/<3.5.2' }], releaseIds, status: 'affected', actionStatement: 'update to 2.4.0', ...extra } as never);

  it('an assessment names approved releases, and states what its status needs', () => {
    expect(decide(assessed(['R1']))).toBe('accepted');
    expect(decide(assessed(['R1', 'R9']))).toBe('RELEASE_UNKNOWN');
    expect(vulnerabilityAggregate.context(assessed(['R1'], { fixedBy: ['R2'] })).map((r) => r.stream)).toEqual(['release-R1', 'release-R2']);
    const check = (data: Record<string, unknown>) => parseEventData('VulnerabilityAssessed', { vulnerabilityId: 'CVE-2024-23775', components: [{ kind: 'name', name: 'mbedtls' }], releaseIds: ['R1'], ...data });
    expect(check({ status: 'not_affected' }).ok).toBe(false);
    expect(check({ status: 'not_affected', justification: 'vulnerable_code_not_in_execute_path' }).ok).toBe(true);
    expect(check({ status: 'affected' }).ok).toBe(false);
    expect(check({ status: 'fixed' }).ok).toBe(true);
    expect(check({ status: 'under_investigation', justification: 'component_not_present' }).ok).toBe(false);
    expect(check({ status: 'under_investigation', vulnerabilityId: 'CVE-24-1' }).ok).toBe(false);
  });

  it('awareness is recorded once, reports come after it, and neither lies ahead of the clock', () => {
    const awareAt = new Date(T0.getTime() - 3_600_000).toISOString();
    const aware = ev('VulnerabilityAwareness', { vulnerabilityId: 'CVE-2024-23775', track: 'vulnerability', awareAt, activelyExploited: true });
    const state = vulnerabilityAggregate.evolve(initialVulnerabilityState, aware);
    const report = (submittedAt: string) => ev('CraReportSubmitted', { vulnerabilityId: 'CVE-2024-23775', stage: 'early_warning', submittedAt });
    expect(decide(report(T0.toISOString()))).toBe('AWARENESS_REQUIRED');
    expect(decide(aware)).toBe('accepted');
    expect(decide(aware, state)).toBe('AWARENESS_EXISTS');
    expect(decide(report(T0.toISOString()), state)).toBe('accepted');
    expect(decide(report(new Date(T0.getTime() - 2 * 3_600_000).toISOString()), state)).toBe('REPORT_BEFORE_AWARENESS');
    expect(decide(report(new Date(NOW.getTime() + 3_600_000).toISOString()), state)).toBe('CLOCK_SKEW');
    const future = ev('VulnerabilityAwareness', { vulnerabilityId: 'CVE-2024-23775', track: 'vulnerability', awareAt: new Date(NOW.getTime() + 3_600_000).toISOString(), activelyExploited: false });
    expect(decide(future)).toBe('CLOCK_SKEW');
  });
});

describe('unit: field updates', () => {
  const fold = (events: UnitEvent[]) => events.reduce(evolveUnit, initialUnitState);
  const made = [unit.scanned(), unit.bootloader(), unit.appVerified(), unit.provisioned(), unit.efuse()];
  const shipped = fold([...made, unit.shipped()]);
  const batch: BatchState = { status: 'open', opened: { batchId: 'B1', releaseId: 'R1', line: 'L1', productSku: 'SKU', plannedQuantity: 10 } };
  const releases: Record<string, ReleaseState> = {
    R1: { ...initialReleaseState, approved: v1Release('R1', 'a'), approvedAt: T0.toISOString() },
    R2: { ...initialReleaseState, approved: v1Release('R2', '2'), approvedAt: T0.toISOString() },
    R3: { ...initialReleaseState, approved: v1Release('R3', '3'), approvedAt: T0.toISOString() },
    OTHER: { ...initialReleaseState, approved: { ...v1Release('OTHER', '4'), productSku: 'OTHER-SKU' }, approvedAt: T0.toISOString() },
  };
  const ctx = (role: 'fleet' | 'flash' = 'fleet'): UnitDecisionContext => ({
    now: NOW,
    maxClockSkewMs: 60_000,
    station: { stationId: role === 'fleet' ? 'FLEET' : 'ST-01', line: 'fleet', role, registeredAt: null },
    batch: () => batch,
    release: (id) => releases[id] ?? initialReleaseState,
  });
  const update = (from: string, to: string, app: string, source = 'FLEET') => ev('FirmwareUpdated', { serial: 'SN1', fromReleaseId: from, toReleaseId: to, images: [{ name: 'application', sha256: hash(app) }], method: 'ota' }, { source });
  const decide = (event: UnitEvent, state: UnitState, c = ctx()) => refusal(() => decideUnit(event, state, c));

  it('accepts an update of a shipped unit, from the release it carries, to an approved release whose image it is', () => {
    expect(decide(update('R1', 'R2', '2'), shipped)).toBe('accepted');
    const updated = evolveUnit(shipped, update('R1', 'R2', '2'));
    expect(updated.fieldReleaseId).toBe('R2');
    expect(updated.status).toBe('shipped');
    expect(decide(update('R1', 'R3', '3'), updated)).toBe('RELEASE_MISMATCH');
    expect(decide(update('R2', 'R3', '3'), updated)).toBe('accepted');
  });

  it('refuses units on the line, unknown releases, other products, wrong images, and other stations', () => {
    expect(decide(update('R1', 'R2', '2'), fold(made))).toBe('UNIT_NOT_SHIPPED');
    expect(decide(update('R1', 'R2', '2'), fold([unit.scanned(), unit.scrapped()]))).toBe('UNIT_SCRAPPED');
    expect(decide(update('R1', 'R9', '2'), shipped)).toBe('RELEASE_UNKNOWN');
    expect(decide(update('R1', 'OTHER', '4'), shipped)).toBe('SKU_MISMATCH');
    expect(decide(update('R1', 'R2', 'a'), shipped)).toBe('IMAGE_MISMATCH');
    expect(decide(update('R1', 'R2', '2', 'ST-01'), shipped, ctx('flash'))).toBe('ROLE_NOT_ALLOWED');
    // The fleet's service writes field updates only.
    expect(decide(ev('UnitReworked', { serial: 'SN1', reason: 'x' }, { source: 'FLEET' }), fold(made))).toBe('ROLE_NOT_ALLOWED');
  });
});
