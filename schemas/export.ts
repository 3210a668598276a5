/**
 * The traceability export format, flashtrail.export.v1, for third parties writing their own verifier.
 * One NDJSON file: each line is one record below; the last line is the statement. The statement's
 * `predicate.content.sha256` is the SHA-256 of every byte of the file before the statement line.
 */
import { z } from 'zod';
import { Identifier, Sha256Hex } from './common.ts';
import { DsseEnvelopeSchema } from './event.ts';

const Base64Hash = z.string().regex(/^[A-Za-z0-9+/]{43}=$/, 'base64 of a 32-byte SHA-256 hash');

export const LoggedEnvelope = z.strictObject({
  leafIndex: z.int().nonnegative().describe('index of the envelope in the ledger Merkle log (RFC 6962, leaf = SHA-256(0x00 || RFC 8785 envelope))'),
  envelope: DsseEnvelopeSchema,
  proof: z.array(Base64Hash).describe('RFC 6962 inclusion proof of the leaf under the export checkpoint'),
});

export const ExportSelectionSchema = z.strictObject({
  batchId: Identifier.optional(),
  serials: z.array(Identifier).optional(),
  firmwareSha256: Sha256Hex.optional(),
  customer: z.string().optional(),
  from: z.string().optional(),
  to: z.string().optional(),
});

export const ExportHeader = z.strictObject({
  record: z.literal('header'),
  format: z.literal('flashtrail.export.v1'),
  origin: z.string().describe('the ledger log origin, also the name of its verifier key'),
  createdAt: z.string(),
  selection: ExportSelectionSchema,
});
export const ExportCheckpoint = z.strictObject({ record: z.literal('checkpoint'), note: z.string().describe('C2SP tlog-checkpoint signed note') });
export const ExportTrust = LoggedEnvelope.extend({ record: z.literal('trust') }).describe('AdminKeysTrusted, signed by the ledger key');
export const ExportStation = LoggedEnvelope.extend({ record: z.literal('station') }).describe('station registration, key registration or revocation, signed by an administrator');
export const ExportUnit = z.strictObject({
  record: z.literal('unit'),
  serial: Identifier,
  chipId: z.string().nullable(),
  mac: z.string().nullable(),
  batchId: Identifier.nullable(),
  releaseId: Identifier.nullable(),
  events: z.array(LoggedEnvelope).min(1).describe("the unit's station-signed events, in stream order"),
});

export const ExportPredicateSchema = z.strictObject({
  format: z.literal('flashtrail.export.v1'),
  origin: z.string(),
  createdAt: z.string(),
  selection: ExportSelectionSchema,
  checkpoint: z.strictObject({ size: z.int().nonnegative(), rootHash: Sha256Hex }),
  content: z.strictObject({ sha256: Sha256Hex, records: z.int().nonnegative(), units: z.int().nonnegative(), events: z.int().nonnegative() }),
  sboms: z.array(z.strictObject({ releaseId: Identifier, sha256: Sha256Hex, mediaType: z.literal('application/vnd.cyclonedx+json') })),
});

export const InTotoStatementSchema = z.strictObject({
  _type: z.literal('https://in-toto.io/Statement/v1'),
  subject: z.array(z.strictObject({ name: z.string(), digest: z.strictObject({ sha256: Sha256Hex }) })).describe('the firmware images the exported units carry'),
  predicateType: z.literal('https://flashtrail.dev/attestation/traceability-export/v1'),
  predicate: ExportPredicateSchema,
});

export const ExportStatement = z.strictObject({
  record: z.literal('statement'),
  envelope: z.strictObject({
    payloadType: z.literal('application/vnd.in-toto+json'),
    payload: z.string().describe('base64 of the RFC 8785 in-toto Statement'),
    signatures: z.array(z.strictObject({ keyid: Sha256Hex, sig: z.string() })).length(1),
  }),
});

export const ExportRecordSchema = z.discriminatedUnion('record', [ExportHeader, ExportCheckpoint, ExportTrust, ExportStation, ExportUnit, ExportStatement]);
