/**
 * The Art. 14 clock: 24 h and 72 h from awareness, the final report 14 days after a fix is available
 * (vulnerabilities) or one calendar month after the incident notification (severe incidents), what is
 * overdue at a given time, "unless already provided"; and the ENISA form content per stage.
 */
import { describe, expect, it } from 'vitest';
import { addOneMonthUtc, art14Clock } from '../../src/cra/art14.ts';
import { enisaDocument, type EnisaInput } from '../../src/cra/enisa.ts';
import type { CraError } from '../../src/cra/errors.ts';

const state = (v: ReturnType<typeof art14Clock>) => Object.fromEntries(v.stages.map((s) => [s.stage, [s.state, s.deadline ?? null]]));

describe('Art. 14(2): an actively exploited vulnerability', () => {
  const awareAt = '2026-11-20T10:00:00Z';

  it('before any fix, the final report has no deadline yet', () => {
    const v = art14Clock({ track: 'vulnerability', awareAt, submissions: [], now: '2026-11-20T20:00:00Z' });
    expect(state(v)).toEqual({ early_warning: ['due', '2026-11-21T10:00:00.000Z'], notification: ['due', '2026-11-23T10:00:00.000Z'], final_report: ['not_started', null] });
    expect(v.stages[0]?.remainingMs).toBe(14 * 3_600_000);
  });

  it('what is overdue, what was late, what was on time', () => {
    const v = art14Clock({
      track: 'vulnerability',
      awareAt,
      fixAvailableAt: '2026-11-25T08:00:00+01:00',
      submissions: [{ stage: 'early_warning', at: '2026-11-21T10:00:01Z' }],
      now: '2026-12-09T07:00:01Z',
    });
    expect(state(v)).toEqual({ early_warning: ['late', '2026-11-21T10:00:00.000Z'], notification: ['overdue', '2026-11-23T10:00:00.000Z'], final_report: ['overdue', '2026-12-09T07:00:00.000Z'] });
    expect(v.overdue).toEqual(['notification', 'final_report']);
  });

  it('exactly at the deadline is on time; an early warning that carried the notification covers it', () => {
    const v = art14Clock({ track: 'vulnerability', awareAt, submissions: [{ stage: 'early_warning', at: '2026-11-21T10:00:00Z', covers: ['notification'] }], now: '2026-11-30T00:00:00Z' });
    expect(state(v)).toEqual({ early_warning: ['on_time', '2026-11-21T10:00:00.000Z'], notification: ['on_time', '2026-11-23T10:00:00.000Z'], final_report: ['not_started', null] });
    expect(v.stages[1]?.coveredBy).toBe('early_warning');
  });

  it('inconsistent input is refused', () => {
    const code = (fn: () => unknown): string => {
      try {
        fn();
      } catch (e) {
        return (e as CraError).code;
      }
      return 'none';
    };
    expect(code(() => art14Clock({ track: 'vulnerability', awareAt, submissions: [{ stage: 'notification', at: '2026-11-19T00:00:00Z' }], now: awareAt }))).toBe('CLOCK_INPUT_INVALID');
    expect(code(() => art14Clock({ track: 'vulnerability', awareAt: '20 Nov 2026', submissions: [], now: awareAt }))).toBe('CLOCK_INPUT_INVALID');
    expect(code(() => art14Clock({ track: 'severe_incident', awareAt, fixAvailableAt: awareAt, submissions: [], now: awareAt }))).toBe('CLOCK_INPUT_INVALID');
    expect(code(() => art14Clock({ track: 'vulnerability', awareAt, submissions: [{ stage: 'final_report', at: awareAt, covers: ['notification'] }], now: awareAt }))).toBe('CLOCK_INPUT_INVALID');
  });
});

describe('Art. 14(4): a severe incident', () => {
  it('the final report is due one calendar month after the notification was submitted', () => {
    const v = art14Clock({ track: 'severe_incident', awareAt: '2027-01-29T12:00:00Z', submissions: [{ stage: 'early_warning', at: '2027-01-30T09:00:00Z' }, { stage: 'notification', at: '2027-01-31T11:00:00Z' }], now: '2027-02-28T11:00:00Z' });
    expect(state(v)).toEqual({ early_warning: ['on_time', '2027-01-30T12:00:00.000Z'], notification: ['on_time', '2027-02-01T12:00:00.000Z'], final_report: ['due', '2027-02-28T11:00:00.000Z'] });
    expect(new Date(addOneMonthUtc(Date.parse('2028-01-31T00:00:00Z'))).toISOString()).toBe('2028-02-29T00:00:00.000Z');
    expect(new Date(addOneMonthUtc(Date.parse('2027-12-15T08:30:00Z'))).toISOString()).toBe('2028-01-15T08:30:00.000Z');
  });
});

describe('ENISA single reporting platform content', () => {
  const input: EnisaInput = {
    stage: 'early_warning',
    manufacturer: { name: 'Example Sensors GmbH', contact: 'psirt@example-sensors.eu' },
    product: { name: 'ES-300 environmental sensor', sku: 'ES-300' },
    vulnerability: { id: 'CVE-2024-23775', aliases: ['EUVD-2024-17411'] },
    affectedVersions: [
      { releaseId: 'ES300-2.3.0', version: '2.3.0', units: 40 },
      { releaseId: 'ES300-2.4.0', version: '2.4.0', units: 1 },
    ],
    affectedUnits: { total: 41, byCustomer: { 'Beta Bau AG': 11, 'Acme Logistics': 30 } },
    memberStates: ['DE', 'AT'],
    status: 'affected',
  };

  it('the early warning is complete with what the ledger knows', () => {
    const doc = enisaDocument(input);
    expect(doc.missing).toEqual([]);
    expect(doc.fields.map((f) => f.label)).toEqual(['Manufacturer', 'Product', 'Vulnerability', 'Affected versions', 'Affected units', 'Member States where the product has been made available', 'Status of the assessment']);
    expect(doc.text).toContain('Affected units [Art. 14(2)(a)]:\n  41 (Acme Logistics: 30; Beta Bau AG: 11)');
    expect(doc.text).toContain('2.3.0 (release ES300-2.3.0, 40 units); 2.4.0 (release ES300-2.4.0, 1 unit)');
  });

  it('the notification and the final report name what the operator still has to write', () => {
    expect(enisaDocument({ ...input, stage: 'notification', userMeasures: ['Install firmware 2.4.1'] }).missing).toEqual([
      'General information about the product',
      'General nature of the exploit and of the vulnerability',
      'Corrective or mitigating measures taken',
      'Sensitivity of the notified information',
    ]);
    const final = enisaDocument({ ...input, stage: 'final_report', product: { ...input.product, description: 'Wi-Fi sensor' }, vulnerability: { ...input.vulnerability, description: 'Integer overflow', severity: 'CVSS 3.1 7.5' }, correctiveMeasures: ['Firmware 2.4.1'], userMeasures: ['Update'], sensitivity: 'TLP:AMBER' });
    expect(final.missing).toEqual(['Details about the security update or other corrective measures made available']);
    expect(final.text).toContain('(MISSING)');
    expect(final.text).toContain('(not known)');
  });
});
