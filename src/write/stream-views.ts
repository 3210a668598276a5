/**
 * The streams one submission reads and extends. Each stream is read from the store once, folded by its
 * aggregate, and then carries the events this submission adds on top (pending: checked, not yet written).
 * The append at the end writes the pending events of every touched view, expecting each stream to be at
 * the revision it was read at, so a concurrent writer makes the whole submission fail rather than race.
 *
 * This is also where a later group commit or a cache of hot streams plugs in: several submissions can share
 * one StreamViews, and a view can outlive a submission as long as the ledger is the store's only writer.
 */
import type { EventStore } from '../store/event-store.ts';
import type { CryptoBackend } from '../crypto/backend.ts';
import type { StreamFolder, StreamRef } from '../domain/aggregate.ts';
import { decodeTrustedEnvelope, type DecodedEvent } from '../event/codec.ts';

export interface KnownEvent {
  /** sha256 of the stored envelope bytes. */
  readonly digest: string;
  readonly revision: bigint;
  /** $all position; null for a pending event. */
  readonly position: bigint | null;
}

export interface StreamView<S> {
  readonly stream: string;
  readonly aggregate: StreamFolder<S>;
  /** Revision of the last stored event when the stream was read (null: no such stream): the append's expectation. */
  readonly storedRevision: bigint | null;
  /** Revision of the last event, pending ones included. */
  revision: bigint | null;
  /** Digest of the last event, pending ones included: what the next event's `prev` must be. */
  headDigest: string | null;
  /** Signed occurredAt of the last event, pending ones included. */
  headOccurredAt: string | null;
  state: S;
  /** Every event id of the stream, stored and pending: retries and reused ids are recognised by it. */
  readonly known: Map<string, KnownEvent>;
  readonly pending: DecodedEvent[];
}

/** A view belongs to the aggregate that folded it; reading it as another aggregate's state is a bug. */
function isViewOf<S>(view: StreamView<unknown>, aggregate: StreamFolder<S>): view is StreamView<S> {
  return view.aggregate === aggregate;
}

export class StreamViews {
  private readonly loading = new Map<string, Promise<StreamView<unknown>>>();
  private readonly loaded = new Map<string, StreamView<unknown>>();

  constructor(
    private readonly store: EventStore,
    private readonly crypto: CryptoBackend,
  ) {}

  /** The view of a stream, read from the store on first use. */
  async load<S>(ref: StreamRef<S>): Promise<StreamView<S>> {
    let loading = this.loading.get(ref.stream);
    if (!loading) {
      loading = this.read(ref);
      this.loading.set(ref.stream, loading);
    }
    return this.narrow(await loading, ref);
  }

  /** The view of a stream already loaded, for synchronous readers (deciders); undefined when it is not. */
  peek<S>(ref: StreamRef<S>): StreamView<S> | undefined {
    const view = this.loaded.get(ref.stream);
    return view && this.narrow(view, ref);
  }

  /** Every view loaded so far. */
  all(): StreamView<unknown>[] {
    return [...this.loaded.values()];
  }

  /** Views that carry pending events, in the order they were first loaded. */
  touched(): StreamView<unknown>[] {
    return [...this.loaded.values()].filter((v) => v.pending.length > 0);
  }

  private narrow<S>(view: StreamView<unknown>, ref: StreamRef<S>): StreamView<S> {
    if (!isViewOf(view, ref.aggregate)) {
      throw new Error(`stream ${ref.stream} is read as a ${ref.aggregate.name} stream, but it was loaded as a ${view.aggregate.name} stream`);
    }
    return view;
  }

  private async read<S>(ref: StreamRef<S>): Promise<StreamView<S>> {
    const recorded = await this.store.readStream(ref.stream);
    let state = ref.aggregate.initialState;
    let headDigest: string | null = null;
    let headOccurredAt: string | null = null;
    const known = new Map<string, KnownEvent>();
    for (const r of recorded) {
      const { event, digest } = decodeTrustedEnvelope(r.data, this.crypto);
      state = ref.aggregate.fold(state, event);
      known.set(event.id, { digest, revision: r.revision, position: r.position });
      headDigest = digest;
      headOccurredAt = event.occurredAt;
    }
    const last = recorded[recorded.length - 1];
    const view: StreamView<S> = {
      stream: ref.stream,
      aggregate: ref.aggregate,
      storedRevision: last ? last.revision : null,
      revision: last ? last.revision : null,
      headDigest,
      headOccurredAt,
      state,
      known,
      pending: [],
    };
    this.loaded.set(ref.stream, view);
    return view;
  }
}
