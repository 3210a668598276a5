/**
 * What the station knows of a unit before it touches it: the ledger's history of the unit (any station's
 * events), followed by this station's own events the ledger does not hold yet; folded by the unit decider's
 * evolve. Unreachable, the station's own record alone.
 */
import type { DsseEnvelope } from '../src/crypto/dsse.ts';
import type { UnitEvent } from '../schemas/index.ts';
import type { LedgerClient } from '../src/client/ledger-client.ts';
import { LedgerClientError, LedgerUnreachableError } from '../src/client/ledger-client.ts';
import { decodeUntrustedEnvelope } from '../src/event/codec.ts';
import { unitStream } from '../src/event/streams.ts';
import { evolveUnit, initialUnitState, type UnitState } from '../src/domain/unit.ts';
import { nativeCrypto } from '../src/native/crypto.ts';
import type { Outbox } from './outbox.ts';

export interface UnitHistory {
  readonly state: UnitState;
  /** False when the ledger could not be asked: the state is this station's own record only. */
  readonly fromLedger: boolean;
}

export async function unitHistory(serial: string, client: LedgerClient, outbox: Outbox): Promise<UnitHistory> {
  const stream = unitStream(serial);
  let ledgerEnvelopes: { digest: string; envelope: DsseEnvelope }[] = [];
  let fromLedger = true;
  try {
    ledgerEnvelopes = (await client.get<{ events: { digest: string; envelope: DsseEnvelope }[] }>(`/v1/units/${encodeURIComponent(serial)}/events`)).events;
  } catch (error) {
    if (error instanceof LedgerClientError && error.status === 404) ledgerEnvelopes = [];
    else if (error instanceof LedgerUnreachableError || (error instanceof LedgerClientError && (error.status >= 500 || error.status === 401 || error.status === 403))) fromLedger = false;
    else throw error;
  }
  const seen = new Set<string>();
  let state = initialUnitState;
  const fold = (envelope: DsseEnvelope) => {
    const decoded = decodeUntrustedEnvelope(envelope, nativeCrypto);
    if (seen.has(decoded.event.id)) return;
    seen.add(decoded.event.id);
    state = evolveUnit(state, decoded.event as UnitEvent);
  };
  for (const e of ledgerEnvelopes) fold(e.envelope);
  if (fromLedger) outbox.followLedgerHead(stream, ledgerEnvelopes[ledgerEnvelopes.length - 1]?.digest ?? null);
  // This station's events not (yet) in the ledger: pending ones, and (offline) everything it wrote.
  for (const own of outbox.envelopesOf(stream)) if (own.state === 'pending' || (!fromLedger && own.state === 'delivered')) fold(own.envelope);
  return { state, fromLedger };
}
