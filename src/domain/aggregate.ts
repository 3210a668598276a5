/**
 * The shape every aggregate of the ledger has: Emmett's decider ({ decide, evolve, initialState }), plus
 * where its streams live, which event types it owns, and which other streams' state a decision reads
 * (`context`). The write pipeline (src/write/pipeline.ts) runs any aggregate of the registry
 * (./registry.ts) with one generic handler; adding an aggregate means adding one registry entry.
 * Pure: nothing here reads a store.
 */
import type { EventType, LedgerEvent } from '../../schemas/index.ts';
import { streamOf } from '../event/streams.ts';

/** One stream, and the aggregate that folds it. Built with `aggregate.stream(id)`. */
export interface StreamRef<S> {
  readonly stream: string;
  readonly aggregate: StreamFolder<S>;
}

/** What reading a stream back needs, without knowing its event type. */
export interface StreamFolder<S> {
  readonly name: string;
  readonly streamPrefix: string;
  readonly initialState: S;
  /** evolve() for an event read back from one of this aggregate's streams; throws for another type. */
  fold(state: S, event: LedgerEvent): S;
}

/** What a decision may look at besides its own stream's state. */
export interface DecisionContext {
  /** The ledger's clock when the event is decided. */
  readonly now: Date;
  /** How far an event's occurredAt may lie ahead of that clock (or behind its stream's previous event). */
  readonly maxClockSkewMs: number;
  /** occurredAt of the previous event of the event's own stream, pending ones included; null for the first. */
  readonly previousAt: string | null;
  /** The state of a stream that the aggregate's `context` declared for this event (the pipeline loaded it). */
  stateOf<S>(ref: StreamRef<S>): S;
  /**
   * The stations whose streams register a key id, as recorded or pending in this submission: a key id
   * belongs to one station (verifiers know station keys by key id). Answered for StationKeyRegistered
   * events; empty for every other event.
   */
  stationsHoldingKey(keyId: string): readonly string[];
}

export type ContextReader = <T>(ref: StreamRef<T>) => T | undefined;

/** What an aggregate module writes; defineAggregate() derives the rest. */
export interface AggregateDefinition<E extends LedgerEvent, S> {
  readonly name: string;
  /** Every stream of this aggregate is named streamPrefix + id (the ledger's own: exactly streamPrefix). */
  readonly streamPrefix: string;
  readonly eventTypes: readonly E['type'][];
  readonly initialState: S;
  evolve(state: S, event: E): S;
  /**
   * The other streams decide() reads for this event; the pipeline loads them first. None by default.
   * `loaded` is the state of a stream this function declared in an earlier round, or undefined: a context
   * stream may name the next one (a unit's batch names its release), and the pipeline asks again until no
   * new stream is declared.
   */
  context?(event: E, state: S, loaded: ContextReader): readonly StreamRef<unknown>[];
  /**
   * Accepts the event (returns it) or refuses it with a DecisionError. A signed event is taken or refused
   * whole: the ledger cannot sign for a station, so a decider never returns other events.
   */
  decide(event: E, state: S, context: DecisionContext): readonly E[];
}

/** An aggregate whose event and state types only it knows: what the registry holds. */
export interface RegisteredAggregate {
  readonly name: string;
  readonly streamPrefix: string;
  readonly eventTypes: readonly EventType[];
  /** Calls `use` with this aggregate at its own types: how generic code handles any entry without casts. */
  open<R>(use: <E extends LedgerEvent, S>(aggregate: Aggregate<E, S>) => R): R;
}

export interface Aggregate<E extends LedgerEvent, S> extends AggregateDefinition<E, S>, StreamFolder<S>, RegisteredAggregate {
  readonly eventTypes: readonly E['type'][];
  context(event: E, state?: S, loaded?: ContextReader): readonly StreamRef<unknown>[];
  /** True for this aggregate's own event types. */
  accepts(event: LedgerEvent): event is E;
  /** The stream of this aggregate with the given id. */
  stream(id: string): StreamRef<S>;
  /** The stream an event of this aggregate belongs to (named by src/event/streams.ts, as clients name it). */
  streamFor(event: E): StreamRef<S>;
}

export function defineAggregate<E extends LedgerEvent, S>(definition: AggregateDefinition<E, S>): Aggregate<E, S> {
  const owned: ReadonlySet<string> = new Set(definition.eventTypes);
  const accepts = (event: LedgerEvent): event is E => owned.has(event.type);
  const aggregate: Aggregate<E, S> = {
    name: definition.name,
    streamPrefix: definition.streamPrefix,
    eventTypes: definition.eventTypes,
    initialState: definition.initialState,
    evolve: (state, event) => definition.evolve(state, event),
    decide: (event, state, context) => definition.decide(event, state, context),
    context: (event, state = definition.initialState, loaded = () => undefined) => definition.context?.(event, state, loaded) ?? [],
    accepts,
    fold(state, event) {
      if (!accepts(event)) throw new Error(`${event.type} is not an event of the ${definition.name} aggregate (streams ${definition.streamPrefix}…)`);
      return definition.evolve(state, event);
    },
    stream: (id) => ({ stream: definition.streamPrefix + id, aggregate }),
    streamFor(event) {
      const stream = streamOf(event);
      if (!stream.startsWith(definition.streamPrefix)) throw new Error(`${event.type} belongs to ${stream}, outside the ${definition.name} streams (${definition.streamPrefix}…)`);
      return { stream, aggregate };
    },
    open: (use) => use(aggregate),
  };
  return aggregate;
}
