/**
 * What an operator records about a unit outside the recipe: rework (the unit is reopened for another
 * pass), scrap with a reason, shipment with customer and order reference. Shared by the scanner's command
 * barcodes and `flashtrail station rework|scrap|ship`. Signed with the station's key, committed to its
 * outbox, delivered, and the ledger's answer reported.
 */
import type { EventSigner } from '../src/event/signer.ts';
import type { LedgerClient } from '../src/client/ledger-client.ts';
import { unitStream } from '../src/event/streams.ts';
import { UnitReworkedV2, UnitScrappedV2, UnitShippedV2 } from '../schemas/unit-events.ts';
import type { Outbox } from './outbox.ts';
import type { Delivery, Sender } from './sender.ts';
import { unitHistory } from './unit-history.ts';

export type LifecycleAction =
  | { readonly type: 'UnitReworked'; readonly reason: string }
  | { readonly type: 'UnitScrapped'; readonly reason: string; readonly failedStep?: string }
  | { readonly type: 'UnitShipped'; readonly customer: string; readonly orderRef: string };

export interface LifecycleDeps {
  readonly signer: EventSigner;
  readonly client: () => LedgerClient;
  readonly outbox: Outbox;
  readonly sender: Sender;
  readonly clock: () => Date;
}

/** A lifecycle action that cannot be recorded (bad input, an unknown unit): one line for the operator. */
export class LifecycleError extends Error {
  override readonly name = 'StationError';
}

/** Signs the action for the unit, chained to what the ledger (or this station) holds of it, and delivers it. */
export async function recordLifecycle(d: LifecycleDeps, serial: string, operator: string, action: LifecycleAction): Promise<{ eventId: string; delivery: Delivery }> {
  const data =
    action.type === 'UnitReworked'
      ? UnitReworkedV2.safeParse({ serial, reason: action.reason, operator })
      : action.type === 'UnitScrapped'
        ? UnitScrappedV2.safeParse({ serial, reason: action.reason, operator, ...(action.failedStep ? { failedStep: action.failedStep } : {}) })
        : UnitShippedV2.safeParse({ serial, customer: action.customer, orderRef: action.orderRef, operator });
  if (!data.success) throw new LifecycleError(`${action.type} for ${serial}: ${data.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const history = await unitHistory(serial, d.client(), d.outbox);
  const stream = unitStream(serial);
  if (history.state.status === 'new') {
    throw new LifecycleError(history.fromLedger ? `the ledger has no unit ${serial}` : `the ledger is unreachable and this station holds no record of unit ${serial}`);
  }
  const signed = d.signer.sign(action.type, data.data as never, { prev: d.outbox.head(stream) ?? null, occurredAt: d.clock() });
  d.outbox.enqueue(signed, d.clock());
  return { eventId: signed.event.id, delivery: await d.sender.deliver(signed.event.id) };
}

/** One line for the operator: what was recorded and what the ledger said. */
export function describeDelivery(serial: string, type: string, delivery: Delivery): string {
  if (delivery.state === 'delivered') return `${serial}: ${type} recorded by the ledger`;
  if (delivery.state === 'rejected') return `${serial}: the ledger REFUSED ${type}: ${delivery.reason}`;
  return `${serial}: ${type} signed and kept in the outbox; the ledger was not reached (${delivery.reason})`;
}
