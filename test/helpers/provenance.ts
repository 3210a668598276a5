/**
 * Independent re-verification of what a ledger holds for a unit, the way an auditor does it: fetch the
 * unit's provenance document and verify it offline against the ledger's verifier key (every signature,
 * chain link, key life and inclusion proof), trusting nothing else the server computed.
 */
import type { LedgerClient } from '../../src/client/ledger-client.ts';
import { nativeCrypto } from '../../src/native/crypto.ts';
import { parseVerifierKey, verifyProvenance, type ProvenanceReport } from '../../src/verify/index.ts';

/** `verifierKey` defaults to the one the ledger serves: fine in a test, never for a real audit. */
export async function verifiedHistory(client: LedgerClient, serial: string, verifierKey?: string): Promise<ProvenanceReport> {
  const key = verifierKey ?? (await client.getText('/v1/ledger/key')).trim();
  const doc = await client.get<unknown>(`/v1/units/${encodeURIComponent(serial)}/provenance`);
  return verifyProvenance(doc, parseVerifierKey(key), nativeCrypto);
}
