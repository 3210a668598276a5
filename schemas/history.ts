/**
 * The completeness evidence of one unit (normative text: docs/format.md §15): the unit's history value in the
 * unit history map as of the evidence's checkpoint, its map proof, and the index-log evidence that ties that
 * map root to the checkpoint. Carried as `history` by flashtrail.provenance.v3 documents and by every unit
 * record of flashtrail.export.v3, and served by GET /v1/unit-map/units/{serial}.
 */
import { z } from 'zod';
import { Serial, Sha256Hex } from './common.ts';

const Base64Hash = z.string().regex(/^[A-Za-z0-9+/]{43}=$/, 'base64 of a 32-byte SHA-256 hash');
/** Canonical base64 (RFC 4648 §4, padded); decoders check the unused bits. */
const Base64 = (max: number) => z.string().max(max).regex(/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/, 'canonical base64');

/** An inclusion proof of a map-commitment leaf in the index log, against the index log checkpoint it carries. */
export const MapCommitmentEvidence = z.strictObject({
  index: z.int().nonnegative().max(Number.MAX_SAFE_INTEGER).describe('the leaf index of the commitment in the index log'),
  proof: z.array(Base64Hash).max(64).describe('RFC 6962 inclusion proof of the commitment leaf under the index checkpoint, sibling first'),
  checkpoint: z.string().min(1).max(16_384).describe('the index log checkpoint (C2SP signed note, origin <ledger origin>/unit-map), with any witness cosignatures'),
});

export const HistoryEvidence = z.strictObject({
  mapRoot: Sha256Hex.describe('the unit history map root as of the checkpoint size (hex)'),
  value: Base64(128).nullable().describe('the 48-byte history value of the serial (count, last leaf, chain), base64; null: the map holds no event of it'),
  proof: Base64(32_768).describe("the map's presence (or, with value null, absence) proof, torchwood mpt encoding, base64"),
  commitment: MapCommitmentEvidence,
});
export type HistoryEvidence = z.infer<typeof HistoryEvidence>;

/**
 * flashtrail.export.v4 (docs/format.md §7.6.2) splits that evidence: what every unit shares (the map root and
 * its commitment in the index log) is one `history` record before the units, and each unit record carries only
 * the map proof of its own serial under that root.
 */
export const UnitMapProof = HistoryEvidence.pick({ value: true, proof: true });
export type UnitMapProof = z.infer<typeof UnitMapProof>;
export const SharedHistoryEvidence = HistoryEvidence.pick({ mapRoot: true, commitment: true });
export type SharedHistoryEvidence = z.infer<typeof SharedHistoryEvidence>;

/**
 * The answer to "which units carry firmware D" (docs/format.md §15.6), as of a ledger checkpoint: the serials
 * carrying D now and those that carried it before, the map proof of D's value (or its absence) under the map
 * root, and that root's v2 commitment in the index log; the ledger checkpoint itself, signed, ties it to the log.
 */
/** A list of serials in the order the ledger writes it (§15.6.1): strictly ascending, so a serial cannot appear twice. */
const AscendingSerials = z
  .array(Serial)
  .max(1_000_000)
  .superRefine((serials, ctx) => {
    for (let i = 1; i < serials.length; i++) {
      if (!((serials[i - 1] as string) < (serials[i] as string))) {
        ctx.addIssue({ code: 'custom', path: [i], message: `must be strictly ascending: ${serials[i]} follows ${serials[i - 1]}` });
        return;
      }
    }
  });

export const FirmwareUnitsAnswer = z.strictObject({
  format: z.literal('flashtrail.firmware-units.v1'),
  sha256: Sha256Hex.describe('the firmware image digest asked about'),
  checkpoint: z.string().min(1).max(16_384).describe('the ledger checkpoint (signed note) the answer is complete as of'),
  now: AscendingSerials.describe('serials whose some image slot carries the digest, strictly ascending by UTF-16 code units'),
  formerly: AscendingSerials.describe('serials that carried it at an earlier leaf and do not now, strictly ascending by UTF-16 code units'),
  firmware: HistoryEvidence.describe("the digest's value (now count, ever count, set root) or null, its map proof, and the v2 commitment of the map root"),
});
export type FirmwareUnitsAnswer = z.infer<typeof FirmwareUnitsAnswer>;
