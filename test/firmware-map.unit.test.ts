import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { canonicalBytes } from '../src/crypto/jcs.ts';
import { MerklePatriciaTree } from '../src/tlog/mpt.ts';
import { decodeFirmwareValue, FirmwareIndex, firmwareOfEntry, firmwareKey, firmwareSetRoot, reportedImagesOfEvent, verifyFirmwareUnits } from '../src/verify/firmware-map.ts';
import { verificationFailure } from './helpers/verification-failure.ts';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);
const BOOT = 'c'.repeat(64);

function build(events: [string, string, Record<string, unknown>][]): { tree: MerklePatriciaTree; index: FirmwareIndex } {
  const tree = new MerklePatriciaTree();
  const index = new FirmwareIndex(tree);
  for (const [serial, type, data] of events) index.apply(serial, reportedImagesOfEvent(type, data));
  // The digests' values are written into the tree once for all the changes (what CommittedMap.root() does).
  index.settle();
  return { tree, index };
}

const flashed = (serial: string, app: string): [string, string, Record<string, unknown>][] => [
  [serial, 'ImagesWritten', { images: [{ name: 'bootloader', sha256: BOOT }, { name: 'app', sha256: app }] }],
  [serial, 'ImagesVerified', { method: 'readback_sha256', images: [{ name: 'app', reported: app }] }],
];

function proveAndVerify(tree: MerklePatriciaTree, digest: string, now: string[], formerly: string[]) {
  const { val, proof } = tree.proveLookup(firmwareKey(digest));
  return verifyFirmwareUnits(digest, now, formerly, val, proof, tree.rootHash());
}

const code = (f: () => unknown): string | undefined => verificationFailure(f)?.code;

describe('the firmware map (draft §15.6)', () => {
  it('maps each digest to the serials carrying it now, and those a field update moved off it', () => {
    const { tree, index } = build([...flashed('S1', A), ...flashed('S2', A), ...flashed('S3', A), ['S2', 'FirmwareUpdated', { images: [{ name: 'app', sha256: B }] }]]);
    expect(index.serialsOf(A)).toEqual({ now: ['S1', 'S3'], formerly: ['S2'] });
    expect(index.serialsOf(B)).toEqual({ now: ['S2'], formerly: [] });
    expect(index.serialsOf(BOOT).now).toEqual(['S1', 'S2', 'S3']);
    expect(proveAndVerify(tree, A, ['S1', 'S3'], ['S2'])).toEqual({ sha256: A, now: 2, ever: 3 });
    expect(proveAndVerify(tree, B, ['S2'], [])).toEqual({ sha256: B, now: 1, ever: 1 });
  });

  it('gives the same root whatever the order units interleave in, and a value that counts both sets', () => {
    const one = build([...flashed('S1', A), ...flashed('S2', A)]).tree;
    const other = build([flashed('S2', A)[0]!, flashed('S1', A)[0]!, flashed('S1', A)[1]!, flashed('S2', A)[1]!]).tree;
    expect(one.rootHash()).toEqual(other.rootHash());
    const value = decodeFirmwareValue(one.get(firmwareKey(A))!);
    expect(value).toMatchObject({ now: 2, ever: 2 });
    expect(value.setRoot).toEqual(firmwareSetRoot(['S2', 'S1'], []));
  });

  it('refuses an answer with a serial removed, added, moved between the sets or given twice', () => {
    const { tree } = build([...flashed('S1', A), ...flashed('S2', A), ...flashed('S3', A), ['S2', 'FirmwareUpdated', { images: [{ name: 'app', sha256: B }] }]]);
    expect(code(() => proveAndVerify(tree, A, ['S1'], ['S2']))).toBe('FIRMWARE_UNITS_INCOMPLETE');
    expect(code(() => proveAndVerify(tree, A, ['S1', 'S3', 'S4'], ['S2']))).toBe('FIRMWARE_UNITS_INCOMPLETE');
    expect(code(() => proveAndVerify(tree, A, ['S1', 'S2'], ['S3']))).toBe('FIRMWARE_UNITS_INCOMPLETE');
    expect(code(() => proveAndVerify(tree, A, ['S1', 'S3', 'S3'], []))).toBe('FIRMWARE_UNITS_INCOMPLETE');
    expect(code(() => proveAndVerify(tree, A, ['S1', 'S3'], ['S2']))).toBeUndefined();
  });

  it('proves that no unit carries a digest the log never reported, and refuses a forged proof or value', () => {
    const { tree } = build([...flashed('S1', A)]);
    const unknown = 'd'.repeat(64);
    expect(proveAndVerify(tree, unknown, [], [])).toEqual({ sha256: unknown, now: 0, ever: 0 });
    expect(code(() => proveAndVerify(tree, unknown, ['S1'], []))).toBe('FIRMWARE_UNITS_INCOMPLETE');
    // an absence claimed for a digest the map holds
    const { proof } = tree.proveLookup(firmwareKey(A));
    expect(code(() => verifyFirmwareUnits(A, [], [], null, proof, tree.rootHash()))).toBe('FIRMWARE_UNITS_INCOMPLETE');
    // a value forged to leave the unit out
    const forged = build([...flashed('S9', A)]).tree.get(firmwareKey(A))!;
    const real = tree.proveLookup(firmwareKey(A));
    expect(code(() => verifyFirmwareUnits(A, ['S9'], [], forged, real.proof, tree.rootHash()))).toBe('FIRMWARE_UNITS_INCOMPLETE');
  });

  it('counts what the device reported: a failed readback and a v1 AppVerified name the digest read back, a boot-log ELF digest none', () => {
    expect(reportedImagesOfEvent('AppVerified', { imageSha256: A, reportedSha256: B })).toEqual([{ slot: 'application', sha256: B }]);
    expect(reportedImagesOfEvent('ImagesVerified', { method: 'boot_log_elf_sha256', images: [{ name: 'app', reported: A }] })).toEqual([]);
    expect(reportedImagesOfEvent('ImagesVerified', { method: 'tool_compare', images: [{ name: 'app', reported: B }] })).toEqual([{ slot: 'application', sha256: B }]);
    expect(reportedImagesOfEvent('UnitShipped', { customer: 'x' })).toEqual([]);
  });
});

describe('the firmware map over logged envelopes', () => {
  it('reads what the genuine v3 vector units carry from their envelope bytes, as their release approved', () => {
    const records = readFileSync(new URL('./vectors/format/v3/export.genuine.ndjson', import.meta.url), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const payload = (e: { payload: string }) => JSON.parse(Buffer.from(e.payload, 'base64').toString('utf8')) as { data: Record<string, string> };
    const release = payload((records.find((r) => r.record === 'release') as { envelope: { payload: string } }).envelope).data;
    const tree = new MerklePatriciaTree();
    const index = new FirmwareIndex(tree);
    const units = records.filter((r) => r.record === 'unit') as { serial: string; events: { envelope: unknown }[] }[];
    for (const unit of units) {
      for (const e of unit.events) {
        const mapped = firmwareOfEntry(canonicalBytes(e.envelope));
        expect(mapped?.serial).toBe(unit.serial);
        index.apply(mapped!.serial, mapped!.images);
      }
    }
    index.settle();
    expect(units.length).toBe(2);
    for (const unit of units) expect(Object.fromEntries(index.carriedBy(unit.serial))).toEqual({ bootloader: release.bootloaderSha256, application: release.applicationSha256 });
    const serials = units.map((u) => u.serial).sort();
    expect(proveAndVerify(tree, release.applicationSha256!, serials, [])).toMatchObject({ now: 2, ever: 2 });
  });
});
