/**
 * Events the ledger writes itself, signed with the ledger key (the key that signs checkpoints).
 *   ledger-trust        AdminKeysTrusted: the administrator keys in force from this point of the log on
 *   ledger-checkpoints  CheckpointIssued: every checkpoint the ledger signed
 */
import { z } from 'zod';
import { KeyId, PublicKeyHex, Sha256Hex } from './common.ts';

export const AdminKeysTrusted = z.strictObject({
  keys: z.array(z.strictObject({ keyId: KeyId, publicKey: PublicKeyHex, name: z.string().max(100).optional() })).min(1).max(64),
});

export const CheckpointIssued = z.strictObject({
  origin: z.string().min(1).max(200),
  size: z.int().nonnegative(),
  rootHash: Sha256Hex,
  note: z.string().min(1).max(16_384).describe('the signed checkpoint note, verbatim'),
});

export const ledgerEventVersions = { AdminKeysTrusted: { 1: AdminKeysTrusted }, CheckpointIssued: { 1: CheckpointIssued } } as const;
export type LedgerOwnEventType = keyof typeof ledgerEventVersions;
