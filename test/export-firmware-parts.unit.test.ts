/**
 * A v5 export's firmware answer in parts (docs/format.md §7.6.3): what the writer splits (src/evidence/export.ts
 * firmwareParts) the reader puts back together exactly (src/verify/export.ts addFirmwarePart), across part
 * boundaries of 16,384 serials, and the reader refuses every part rule broken, at the part that breaks it.
 * The end-to-end file, its proof and the completeness walk are test/export-firmware.int.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { firmwareParts } from '../src/evidence/export.ts';
import { addFirmwarePart, emptyFirmwareAnswer } from '../src/verify/export.ts';
import { FIRMWARE_PART_SERIALS, type FirmwareRecord } from '../src/verify/export-format.ts';
import { verificationFailure } from './helpers/verification-failure.ts';

const D = 'ab'.repeat(32);
const firmware = { value: null, proof: '' };
const serials = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${String(i).padStart(7, '0')}`);
const split = (now: string[], formerly: string[]) => [...firmwareParts({ sha256: D, firmware, now, formerly })];
const read = (parts: readonly FirmwareRecord[]) => {
  const answer = emptyFirmwareAnswer();
  parts.forEach((p, i) => addFirmwarePart(answer, p, 4 + i));
  return answer;
};
const refusal = (parts: readonly FirmwareRecord[]) => verificationFailure(() => read(parts));

describe('the firmware answer in parts', () => {
  it('splits now then formerly into parts of 16,384, every part but the last full, and reads them back exactly', () => {
    const now = serials('A', 20_000);
    const formerly = serials('B', 25_000);
    const parts = split(now, formerly);
    expect(parts.map((p) => p.now.length + p.formerly.length)).toEqual([16_384, 16_384, 45_000 - 2 * 16_384]);
    // The second part ends the now list and starts the formerly list.
    expect(parts[1]?.now.length).toBe(20_000 - 16_384);
    expect(parts[1]?.formerly.length).toBe(2 * 16_384 - 20_000);
    expect(parts[2]?.now).toEqual([]);
    const back = read(parts);
    expect(back.now).toEqual(now);
    expect(back.formerly).toEqual(formerly);
    expect(back.parts).toBe(3);
  });

  it('writes one part for an exact multiple, and one empty part for an empty answer', () => {
    expect(split(serials('A', FIRMWARE_PART_SERIALS), []).length).toBe(1);
    expect(split(serials('A', FIRMWARE_PART_SERIALS), serials('B', 1)).length).toBe(2);
    const empty = split([], []);
    expect(empty).toEqual([{ record: 'firmware', sha256: D, firmware, now: [], formerly: [] }]);
    expect(read(empty).parts).toBe(1);
  });

  it('refuses each part rule broken, at the part that breaks it', () => {
    const parts = split(serials('A', 20_000), serials('B', 10));
    const [first, second] = parts as [FirmwareRecord, FirmwareRecord];
    // A part not full followed by another.
    expect(refusal([{ ...first, now: first.now.slice(1) }, second])).toMatchObject({ code: 'FORMAT_ERROR', location: { line: 5 } });
    // An empty part after a full one.
    expect(refusal([first, { ...second, now: [], formerly: [] }])).toMatchObject({ code: 'FORMAT_ERROR', location: { line: 5 } });
    // Another digest, or another proof, in a later part.
    expect(refusal([first, { ...second, sha256: 'cd'.repeat(32) }])).toMatchObject({ code: 'FORMAT_ERROR', location: { line: 5, field: 'sha256' } });
    expect(refusal([first, { ...second, firmware: { value: null, proof: 'AAAA' } }])).toMatchObject({ code: 'FORMAT_ERROR', location: { line: 5, field: 'firmware' } });
    // Descending across parts, and a serial twice.
    expect(refusal([first, { ...second, now: [first.now[0] as string, ...second.now.slice(1)] }])).toMatchObject({ code: 'FORMAT_ERROR', location: { line: 5, field: 'now[0]' } });
    expect(refusal([{ ...first, now: [...first.now.slice(0, -1), first.now[0] as string] }])).toMatchObject({ code: 'FORMAT_ERROR', location: { line: 4, field: `now[${FIRMWARE_PART_SERIALS - 1}]` } });
    // More than a part holds.
    expect(refusal([{ ...first, formerly: ['Z-1'] }])).toMatchObject({ code: 'FORMAT_ERROR', location: { line: 4 } });
  });

  it('refuses an answer of more than 1,000,000 serials', () => {
    const full = { record: 'firmware' as const, sha256: D, firmware, formerly: [] };
    const answer = emptyFirmwareAnswer();
    // 61 full parts are 999,424 serials; the 62nd full one goes past 1,000,000.
    let next = 0;
    const part = () => ({ ...full, now: Array.from({ length: FIRMWARE_PART_SERIALS }, () => `S-${String(next++).padStart(8, '0')}`) });
    for (let i = 0; i < 61; i++) addFirmwarePart(answer, part(), 4 + i);
    expect(answer.now.length).toBe(61 * FIRMWARE_PART_SERIALS);
    expect(verificationFailure(() => addFirmwarePart(answer, part(), 65))).toMatchObject({ code: 'FORMAT_ERROR', location: { line: 65 }, message: expect.stringContaining('at most 1000000') });
  });
});
