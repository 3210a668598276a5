/**
 * Builds and signs ledger events at their source, keeping each stream's hash chain: the `prev` of an event
 * is the digest of the envelope signed just before it in the same stream.
 */
import type { EventOf, EventType, LedgerEvent } from '../../schemas/index.ts';
import { LEDGER_EVENT_TYPES, schemaVersionFor, UNIT_EVENT_TYPES } from '../../schemas/index.ts';
import type { DsseEnvelope } from '../crypto/dsse.ts';
import { envelopeDigest } from '../crypto/dsse.ts';
import { signEvent } from './codec.ts';
import { streamOf } from './streams.ts';
import type { Signer } from '../crypto/ed25519.ts';

export interface SignedEvent {
  readonly event: LedgerEvent;
  readonly envelope: DsseEnvelope;
  readonly digest: string;
  readonly stream: string;
}

export class EventSigner {
  private readonly heads = new Map<string, string | null>();

  constructor(
    private readonly signer: Signer,
    /** The station id, or the administrator's name, that appears as `source.id`. */
    readonly sourceId: string,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  get keyId(): string {
    return this.signer.keyId;
  }

  /** Tell the signer the current head of a stream it did not write itself (e.g. read from the ledger). */
  setHead(stream: string, digest: string | null): void {
    this.heads.set(stream, digest);
  }

  sign<T extends EventType>(type: T, data: EventOf<T>['data'], options: { prev?: string | null; id?: string; occurredAt?: Date; schemaVersion?: number } = {}): SignedEvent {
    const kind = (UNIT_EVENT_TYPES as string[]).includes(type) ? 'station' : (LEDGER_EVENT_TYPES as string[]).includes(type) ? 'ledger' : 'admin';
    const draft = {
      id: options.id ?? crypto.randomUUID(),
      type,
      schemaVersion: options.schemaVersion ?? schemaVersionFor(type, data),
      occurredAt: (options.occurredAt ?? this.clock()).toISOString(),
      source: { kind, id: this.sourceId },
      prev: null as string | null,
      data,
    } as unknown as LedgerEvent;
    const stream = streamOf(draft);
    const event = { ...draft, prev: options.prev !== undefined ? options.prev : (this.heads.get(stream) ?? null) } as LedgerEvent;
    const envelope = signEvent(event, this.signer);
    const digest = envelopeDigest(envelope);
    this.heads.set(stream, digest);
    return { event, envelope, digest, stream };
  }
}
