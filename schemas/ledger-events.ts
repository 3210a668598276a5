/**
 * Events the ledger writes itself, signed with the ledger key (the key that signs checkpoints).
 *   ledger-trust        AdminKeysTrusted: the administrator keys in force from this point of the log on
 *   ledger-checkpoints  CheckpointIssued: every checkpoint the ledger signed
 *   ledger-keys         LedgerKeyAnnounced: the ledger's post-quantum (ML-DSA-44) key, announced under its Ed25519 key;
 *                       replaced by a LedgerKeyRotated version 2 link (or, unlinked, by another announcement)
 *   ledger-key-rotations  LedgerKeyRotated: a new Ed25519 (v1) or ML-DSA-44 (v2) ledger key, signed by the key it
 *                       replaces; the chains a verifier pinned to an older key follows (docs/format.md §5.4, §5.5)
 *   ledger-statement-<serial>  ScittStatementRegistered: the SCITT Signed Statement the ledger, as manufacturer,
 *                       registered for a shipped unit (src/scitt/statement.ts)
 *   ledger-notifications-<vulnerability>  NotificationListProduced: each notification list the ledger produced
 *                       for a vulnerability (who asked, what query, the digest of what was served, as of which
 *                       checkpoint): "who was told what, when" in the tamper-evident log (CRA Art. 14(8))
 */
import { z } from 'zod';
import { Identifier, KeyId, PublicKeyHex, Sha256Hex, ShortText } from './common.ts';
import { VexStatusSchema, VulnerabilityId } from './admin-events.ts';

export const AdminKeysTrusted = z.strictObject({
  keys: z.array(z.strictObject({ keyId: KeyId, publicKey: PublicKeyHex, name: z.string().max(100).optional() })).min(1).max(64),
});

export const CheckpointIssued = z.strictObject({
  origin: z.string().min(1).max(200),
  size: z.int().nonnegative(),
  rootHash: Sha256Hex,
  note: z.string().min(1).max(16_384).describe('the signed checkpoint note, verbatim'),
});

/**
 * v2: the same checkpoint, and the map commitment version the index log uses from it on (docs/format.md §15.3):
 * the first v2 record is the switch point after which index log leaves commit the unit and firmware map (§15.6).
 */
export const CheckpointIssuedMapV2 = CheckpointIssued.extend({
  mapCommitment: z.literal(2).describe('index log leaves from this checkpoint on are flashtrail/map-commitment/v2 (docs/format.md §15.3)'),
});

export const ScittStatementRegistered = z.strictObject({
  serial: Identifier.describe('the unit: the statement\'s subject (CWT claim sub)'),
  statementSha256: Sha256Hex.describe('SHA-256 of the registered statement (its COSE_Sign1 bytes, unprotected header empty)'),
  provenanceSha256: Sha256Hex.describe('the statement\'s payload: SHA-256 of the JCS bytes of the unit\'s provenance document'),
  checkpoint: z.string().min(1).max(16_384).describe('the signed checkpoint that provenance document is proved against, verbatim'),
  statement: z.string().min(1).max(8192).regex(/^[A-Za-z0-9+/]*={0,2}$/, 'base64').describe('the registered statement, base64'),
});

export const LedgerKeyAnnounced = z.strictObject({
  algorithm: z.literal('ml-dsa-44'),
  keyId: Sha256Hex.describe('hex SHA-256 of the raw ML-DSA-44 public key'),
  publicKey: z.string().length(1752).regex(/^[A-Za-z0-9+/]*={0,2}$/, 'base64').describe('the raw 1312-byte ML-DSA-44 public key, base64'),
  verifierKey: z.string().min(1).max(2048).describe('the C2SP vkey (type 0x06) that checks its checkpoint signature line'),
});

/**
 * A new Ed25519 ledger key, signed by the key it replaces (the envelope's keyid is previousKeyId). A new type,
 * not a version of LedgerKeyAnnounced: it names its predecessor (the link a verifier follows) and must be signed
 * by it, and it changes which key signs every later ledger record and checkpoint; LedgerKeyAnnounced adds a
 * second signature beside the Ed25519 one. Its own leaf index says from where the new key signs: every ledger
 * record at a later leaf, and every checkpoint whose tree holds it.
 */
export const LedgerKeyRotated = z.strictObject({
  algorithm: z.literal('ed25519'),
  previousKeyId: KeyId.describe('hex SHA-256 of the key this one replaces, which signs this record'),
  previousPublicKey: PublicKeyHex.describe('that key\'s raw Ed25519 public key, hex'),
  keyId: KeyId.describe('hex SHA-256 of the new raw Ed25519 public key'),
  publicKey: PublicKeyHex.describe('the new raw Ed25519 public key, hex'),
  verifierKey: z.string().min(1).max(300).describe('the new C2SP vkey (type 0x01): same origin, another key hash'),
});

const MlDsaPublicKeyBase64 = z.string().length(1752).regex(/^[A-Za-z0-9+/]*={0,2}$/, 'base64');

/**
 * Version 2: a new ML-DSA-44 ledger key (docs/format.md §5.5). The envelope carries one signature (§2.1), the
 * Ed25519 ledger key's in force at the record's leaf, so the old ML-DSA-44 key signs the link inside the data:
 * `previousKeySignature`, over a message of its own domain (src/tlog/ml-dsa-rotation.ts). A verifier pinned to
 * the old ML-DSA-44 key trusts the new one by that post-quantum signature, not by the Ed25519 one alone. The
 * same type as version 1 (a link of the chain of ledger keys, the same stream), another algorithm: version 1
 * stays the Ed25519 rotation, byte for byte.
 */
export const LedgerKeyRotatedMlDsa = z.strictObject({
  algorithm: z.literal('ml-dsa-44'),
  previousKeyId: Sha256Hex.describe('hex SHA-256 of the raw ML-DSA-44 public key this one replaces'),
  previousPublicKey: MlDsaPublicKeyBase64.describe('that raw 1312-byte ML-DSA-44 public key, base64'),
  keyId: Sha256Hex.describe('hex SHA-256 of the new raw ML-DSA-44 public key'),
  publicKey: MlDsaPublicKeyBase64.describe('the new raw 1312-byte ML-DSA-44 public key, base64'),
  verifierKey: z.string().min(1).max(2048).describe('the new C2SP vkey (type 0x06): same origin, another key id'),
  previousKeySignature: z
    .string()
    .length(3228)
    .regex(/^[A-Za-z0-9+/]*={0,2}$/, 'base64')
    .describe('the 2420-byte ML-DSA-44 signature by the replaced key over the rotation message (docs/format.md §5.5), base64'),
});

export const NotificationListProduced = z.strictObject({
  vulnerabilityId: VulnerabilityId,
  query: z.strictObject({
    view: z.enum(['now', 'shipped']).describe('the firmware units carry today, or as they shipped'),
    statuses: z.array(VexStatusSchema).min(1).max(4).describe('the assessment statuses whose releases the list covers'),
  }),
  format: z.enum(['json', 'csv', 'ndjson', 'dsse']),
  listSha256: Sha256Hex.describe('SHA-256 of the list exactly as served: the response body (for dsse, the signed payload)'),
  units: z.int().nonnegative(),
  customers: z.int().nonnegative(),
  asOf: z
    .strictObject({ size: z.int().nonnegative(), rootHash: Sha256Hex })
    .nullable()
    .describe('the newest checkpoint the ledger had signed when it produced the list; null before the first'),
  requestedBy: z.strictObject({ role: z.enum(['admin', 'auditor']), name: ShortText.describe('the name of the bearer token that asked') }),
});

export const ledgerEventVersions = { AdminKeysTrusted: { 1: AdminKeysTrusted }, CheckpointIssued: { 1: CheckpointIssued, 2: CheckpointIssuedMapV2 }, ScittStatementRegistered: { 1: ScittStatementRegistered }, LedgerKeyAnnounced: { 1: LedgerKeyAnnounced }, LedgerKeyRotated: { 1: LedgerKeyRotated, 2: LedgerKeyRotatedMlDsa }, NotificationListProduced: { 1: NotificationListProduced } } as const;
export type LedgerOwnEventType = keyof typeof ledgerEventVersions;
