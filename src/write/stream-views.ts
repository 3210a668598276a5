/**
 * The streams one commit group reads and extends. A group is the submissions the ledger decides together
 * and writes in one store transaction (group commit). Each stream is read once per group (from the cache of
 * hot streams when the ledger is the store's only writer, else from the store), folded by its aggregate, and
 * then carries the events the group's submissions add on top.
 *
 * Each submission of the group works inside a savepoint: what it added to the views is undone when it is
 * refused, so one refusal never leaks into another submission's decision, and the submissions after it
 * decide against exactly the state the group's accepted submissions produced. The savepoint also says what
 * the submission appends, stream by stream, and at which revision it found each stream: the store's
 * expected-revision check then holds every decision to the state it was made against.
 */
import type { AppendRequest, EventStore, RecordedEvent } from '../store/event-store.ts';
import type { CryptoBackend } from '../crypto/backend.ts';
import type { StreamFolder, StreamRef } from '../domain/aggregate.ts';
import type { LedgerEvent } from '../../schemas/index.ts';
import { decodeTrustedEnvelope, type DecodedEvent } from '../event/codec.ts';

export interface KnownEvent {
  /** sha256 of the stored envelope bytes. */
  readonly digest: string;
  readonly revision: bigint;
  /** $all position; null while the event is pending in the group. */
  position: bigint | null;
  /** The savepoint that added a pending event; undefined for stored ones. */
  readonly addedBy?: Savepoint;
}

/** What is known of a stream at a revision: what a view starts from, and what the cache keeps between groups. */
interface StreamHead<S> {
  readonly aggregate: StreamFolder<S>;
  /** Revision of the last event (null: no such stream). */
  readonly revision: bigint | null;
  /** Digest of the last event: what the next event's `prev` must be. */
  readonly headDigest: string | null;
  /** Signed occurredAt of the last event. */
  readonly headOccurredAt: string | null;
  readonly state: S;
  /** Every event id of the stream: retries and reused ids are recognised by it. */
  readonly known: ReadonlyMap<string, KnownEvent>;
}

export interface StreamView<S> {
  readonly stream: string;
  readonly aggregate: StreamFolder<S>;
  /** Revision of the last event, pending ones included. */
  revision: bigint | null;
  /** Digest of the last event, pending ones included: what the next event's `prev` must be. */
  headDigest: string | null;
  /** Signed occurredAt of the last event, pending ones included. */
  headOccurredAt: string | null;
  state: S;
  /** Every event id of the stream, stored and pending. */
  readonly known: Map<string, KnownEvent>;
}

/**
 * Folded heads of recently used streams, kept between groups. Only valid while the ledger is the single
 * writer of its store; the ledger drops what a failed or refused commit may have left stale. Least recently
 * used streams are evicted first, so a plant's station, batch and release streams stay while finished units
 * age out.
 */
export class StreamCache {
  private readonly heads = new Map<string, StreamHead<unknown>>();

  constructor(readonly maxStreams = 20_000) {}

  get size(): number {
    return this.heads.size;
  }

  /** The cached head, refreshed as most recently used; undefined when not cached. */
  get(stream: string): StreamHead<unknown> | undefined {
    const head = this.heads.get(stream);
    if (head) {
      this.heads.delete(stream);
      this.heads.set(stream, head);
    }
    return head;
  }

  /** The cached head without touching its recency (read-only looks from outside a group). */
  peek(stream: string): StreamHead<unknown> | undefined {
    return this.heads.get(stream);
  }

  set(stream: string, head: StreamHead<unknown>): void {
    this.heads.delete(stream);
    this.heads.set(stream, head);
    while (this.heads.size > this.maxStreams) {
      const oldest = this.heads.keys().next().value;
      if (oldest === undefined) break;
      this.heads.delete(oldest);
    }
  }

  delete(stream: string): void {
    this.heads.delete(stream);
  }

  clear(): void {
    this.heads.clear();
  }
}

/** One submission's changes to the group's views: undone together, appended together. */
export class Savepoint {
  /** Undo steps, newest last. */
  private readonly undo: (() => void)[] = [];
  /** Per stream: the revision the submission found it at, and the events it adds. */
  private readonly writes = new Map<string, { readonly expected: bigint | null; readonly items: DecodedEvent[]; readonly known: KnownEvent[] }>();
  private open = true;

  /** Adds a checked event on top of its stream's view. */
  extend<S>(view: StreamView<S>, item: DecodedEvent, state: S): KnownEvent {
    if (!this.open) throw new Error('a savepoint that was rolled back or released cannot be extended');
    const before = { revision: view.revision, headDigest: view.headDigest, headOccurredAt: view.headOccurredAt, state: view.state };
    let write = this.writes.get(view.stream);
    if (!write) {
      write = { expected: view.revision, items: [], known: [] };
      this.writes.set(view.stream, write);
    }
    write.items.push(item);
    view.state = state;
    view.revision = view.revision === null ? 0n : view.revision + 1n;
    view.headDigest = item.digest;
    view.headOccurredAt = item.event.occurredAt;
    const known: KnownEvent = { digest: item.digest, revision: view.revision, position: null, addedBy: this };
    view.known.set(item.event.id, known);
    write.known.push(known);
    this.undo.push(() => {
      view.known.delete(item.event.id);
      Object.assign(view, before);
    });
    return known;
  }

  /** Undoes every change of this submission, newest first. */
  rollback(): void {
    for (let step = this.undo.pop(); step; step = this.undo.pop()) step();
    this.writes.clear();
    this.open = false;
  }

  /** After the write: the undo steps hold the group's views, which must not outlive it through the cache. */
  release(): void {
    this.undo.length = 0;
    this.writes.clear();
    this.open = false;
  }

  /** The submission's appends, one request per stream it extends, each expecting the revision it was decided against. */
  requests(): AppendRequest[] {
    return [...this.writes].map(([stream, w]) => ({ stream, expected: w.expected ?? 'no_stream', events: w.items.map((d) => ({ id: d.event.id, type: d.event.type, data: d.bytes })) }));
  }

  /** Gives each pending event the $all position the store answered, request by request as requests() listed them. */
  recordPositions(results: readonly { readonly positions: readonly bigint[] }[]): void {
    [...this.writes.values()].forEach((w, i) =>
      w.known.forEach((known, j) => {
        const position = results[i]?.positions[j];
        if (position === undefined) throw new Error(`the store answered no position for event ${j} of request ${i}`);
        known.position = position;
      }),
    );
  }

  get writesAnything(): boolean {
    return this.writes.size > 0;
  }
}

/** The group's own copy of a head: the cache keeps the head it had until the group's write succeeds. */
function viewOf<S>(ref: StreamRef<S>, head: StreamHead<S>): StreamView<S> {
  return { stream: ref.stream, aggregate: ref.aggregate, revision: head.revision, headDigest: head.headDigest, headOccurredAt: head.headOccurredAt, state: head.state, known: new Map(head.known) };
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
    /** Hot streams kept between groups; absent when another writer may change the store. */
    private readonly cache?: StreamCache,
  ) {}

  /** The view of a stream, read from the cache or the store on first use. */
  async load<S>(ref: StreamRef<S>): Promise<StreamView<S>> {
    const ready = this.loaded.get(ref.stream);
    if (ready) return this.narrow(ready, ref);
    let loading = this.loading.get(ref.stream);
    if (!loading) {
      loading = this.read(ref);
      this.loading.set(ref.stream, loading);
    }
    return this.narrow(await loading, ref);
  }

  /**
   * Loads the streams not yet loaded nor cached in one read of the store (where it can): a batch of a hundred
   * new units costs one statement, not a hundred. The views are then what load() would have read.
   */
  async prefetch(refs: readonly StreamRef<unknown>[]): Promise<void> {
    if (!this.store.readStreams) return;
    const wanted = new Map<string, StreamRef<unknown>>();
    for (const ref of refs) {
      if (this.loaded.has(ref.stream) || this.loading.has(ref.stream) || wanted.has(ref.stream)) continue;
      if (this.cache?.peek(ref.stream)?.aggregate === ref.aggregate) continue;
      wanted.set(ref.stream, ref);
    }
    if (wanted.size < 2) return;
    const recorded = await this.store.readStreams([...wanted.keys()]);
    for (const ref of wanted.values()) {
      if (this.loaded.has(ref.stream) || this.loading.has(ref.stream)) continue;
      this.loaded.set(ref.stream, viewOf(ref, this.fold(ref, recorded.get(ref.stream) ?? [])));
    }
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

  /**
   * After the group's write: the views as the store now holds them go to the cache (every pending event of
   * an accepted submission carries its position by then). `stale` streams, which a refused or failed write
   * may have left different from the store, are dropped instead.
   */
  publish(stale: ReadonlySet<string> | 'all'): void {
    if (!this.cache) return;
    for (const view of this.loaded.values()) {
      const pending = [...view.known.values()].some((k) => k.position === null);
      if (stale === 'all' || stale.has(view.stream) || pending) this.cache.delete(view.stream);
      else this.cache.set(view.stream, { aggregate: view.aggregate, revision: view.revision, headDigest: view.headDigest, headOccurredAt: view.headOccurredAt, state: view.state, known: view.known });
    }
  }

  private narrow<S>(view: StreamView<unknown>, ref: StreamRef<S>): StreamView<S> {
    if (!isViewOf(view, ref.aggregate)) {
      throw new Error(`stream ${ref.stream} is read as a ${ref.aggregate.name} stream, but it was loaded as a ${view.aggregate.name} stream`);
    }
    return view;
  }

  private async read<S>(ref: StreamRef<S>): Promise<StreamView<S>> {
    const cached = this.cache?.get(ref.stream);
    const head = cached && cached.aggregate === ref.aggregate ? (cached as StreamHead<S>) : this.fold(ref, await this.store.readStream(ref.stream));
    const view = viewOf(ref, head);
    this.loaded.set(ref.stream, view);
    return view;
  }

  /** A stream's head, folded from its recorded events. */
  private fold<S>(ref: StreamRef<S>, recorded: readonly RecordedEvent[]): StreamHead<S> {
    let state = ref.aggregate.initialState;
    let headDigest: string | null = null;
    let headOccurredAt: string | null = null;
    const known = new Map<string, KnownEvent>();
    for (const r of recorded) {
      const { event, digest } = decodeTrustedEnvelope(r.data, this.crypto);
      state = ref.aggregate.fold(state, event as LedgerEvent);
      known.set(event.id, { digest, revision: r.revision, position: r.position });
      headDigest = digest;
      headOccurredAt = event.occurredAt;
    }
    const last = recorded[recorded.length - 1];
    return { aggregate: ref.aggregate, revision: last ? last.revision : null, headDigest, headOccurredAt, state, known };
  }
}
