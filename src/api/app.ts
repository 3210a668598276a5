/**
 * The HTTP API. Dependencies come in; nothing here opens files or reads the environment.
 */
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import type { Logger } from 'pino';
import type { Ledger, StoredEvent } from '../write/pipeline.ts';
import type { ReadModel } from '../read/read-model.ts';
import { LedgerError } from '../write/errors.ts';
import { Identifier } from '../../schemas/common.ts';
import { batchStream, releaseStream, stationStream, unitStream } from '../event/streams.ts';
import type { UnitView } from '../../projections/unit-state.ts';
import { stationAggregate } from '../domain/station.ts';
import { batchAggregate } from '../domain/batch.ts';
import { releaseAggregate } from '../domain/release.ts';
import { EventStoreUnavailableError, type EventStore } from '../store/event-store.ts';
import { bearerAuth, bodyText, boundedBody, queryContract, requestIds, requestLog, requireRole, validQuery, type AppEnv } from './middleware.ts';
import { requestHeader } from '../http/headers.ts';
import type { AppendResult, BatchView, HistoryEntry, ReleaseView, ConsistencyProof, Health, InclusionProof, Ready, StationView, StreamHead, UnitHistory, UnitsPage, UnitViewSchema } from './contract.ts';
import { API_OPERATIONS, ConsistencyQuery, InclusionQuery, UnitsQuery, publicUnitView, type ResponseOf } from './contract.ts';
import { apiReference } from './reference.ts';
import { httpMetrics, LedgerMetrics } from './metrics.ts';
import type { RequestGate } from './shutdown.ts';
import { openApiDocument } from './openapi.ts';
import { problem } from './problem.ts';
import type { TokenSource } from './tokens.ts';
import type { LedgerLog } from '../read/ledger-log.ts';
import type { Checkpointer } from '../write/checkpointer.ts';
import { buildProvenance, checkpointSize, signProvenanceBytes } from '../evidence/provenance.ts';
import { productionRoutes } from './production-routes.ts';
import { prepareExport, selectUnits } from '../evidence/export.ts';
import { ExportSelectionSchema } from '../../schemas/export.ts';
import type { Signer } from '../crypto/ed25519.ts';
import { toBase64, toHex } from '../crypto/encoding.ts';
import { webRoutes } from '../web/routes.ts';
import { verifierPage } from '../web/pages.ts';
import { verifierPageRecord } from '../evidence/statement.ts';
import type { MlDsaSigner } from '../crypto/ml-dsa.ts';
import { interlockRoutes } from './interlock-routes.ts';
import { readinessFromReadModel } from '../plant/readiness.ts';
import type { PlantStatsSource } from '../plant/plant.ts';
import { checkSbomEvidence, craRoutes } from './cra-routes.ts';
import { notificationRecorder } from '../evidence/notification-record.ts';
import type { SbomStore } from '../files/sbom-store.ts';
import { scittRoutes } from './scitt-routes.ts';
import { mapRoutes } from './map-routes.ts';
import { historyIfInService } from '../evidence/history.ts';
import { UnitMapError, type UnitMapIndex } from '../read/unit-map.ts';
import { ReadSideThreadError } from '../read/read-side-worker.ts';

export interface AppDeps {
  readonly ledger: Ledger;
  readonly store: EventStore;
  readonly projections: ReadModel;
  readonly tokens: TokenSource;
  readonly logger: Logger;
  readonly log: LedgerLog;
  readonly checkpointer: Checkpointer;
  /** The unit history map and its index log (docs/format.md §15); null or absent: none kept. */
  readonly unitMap?: UnitMapIndex | null;
  /** The ledger's verifier key string, `<origin>+<key id>+<key>`. */
  readonly verifierKey: string;
  /** The ledger's ML-DSA-44 verifier key (C2SP vkey type 0x06), when it signs checkpoints with one. */
  readonly mlDsaVerifierKey?: string | null;
  /** The ledger's own key and log origin: exports are signed with it. */
  readonly ledgerKey: Signer;
  /** The ledger's ML-DSA-44 key: export statements are signed with it too (null: post-quantum signatures off). */
  readonly mlDsaKey?: MlDsaSigner | null;
  readonly origin: string;
  /** Largest accepted request body, in bytes. */
  readonly maxBodyBytes?: number;
  /** The plant broker's publisher and interlock numbers, for /metrics (null: no broker configured). */
  readonly plantStats?: PlantStatsSource;
  /** The SBOMs attached to releases (sboms/ in the data directory): the CRA routes need them. */
  readonly sboms?: SbomStore;
  /** Counts requests in flight and refuses new ones once the server drains (graceful shutdown). */
  readonly gate?: RequestGate;
  /** Bytes of the event store on disk, for /metrics (SQLite); absent when the store is a server. */
  readonly storeBytes?: () => number | null;
  /** The version the OpenAPI document states (the API is v1; a packaged ledger may name its release). */
  readonly version?: string;
}

export function createApp(deps: AppDeps): Hono<AppEnv> {
  const { ledger, projections, logger } = deps;
  const app = new Hono<AppEnv>();

  const metrics = new LedgerMetrics({ store: deps.store, projections, log: deps.log, checkpointer: deps.checkpointer, ...(deps.storeBytes ? { storeBytes: deps.storeBytes } : {}) });
  app.use('*', requestIds());
  app.use('*', httpMetrics(metrics));
  app.use('*', requestLog(logger));
  if (deps.gate) app.use('*', deps.gate.middleware());
  app.use('*', queryContract(API_OPERATIONS));
  app.onError((error, c) => {
    if (error instanceof LedgerError) return problem(c, error.code, error.message, error.details);
    // A map out of service (it found the log or its own signed checkpoint contradicting it) answers 503 with its reason, never a proof.
    if (error instanceof UnitMapError) return problem(c, 'UNAVAILABLE', `the unit history map is out of service: ${error.message}`);
    // The read side's thread stopped under a read (src/read/read-side-worker.ts): the next read starts a new one.
    if (error instanceof ReadSideThreadError) {
      logger.warn({ requestId: c.get('requestId'), err: error.message }, 'read side unavailable');
      return problem(c, 'UNAVAILABLE', 'the read model is being restarted; retry the request');
    }
    if (error instanceof EventStoreUnavailableError) {
      logger.warn({ requestId: c.get('requestId'), err: error.message }, 'event store unavailable');
      return problem(c, 'UNAVAILABLE', 'the event store cannot be reached; retry the same request (it is idempotent)');
    }
    logger.error({ requestId: c.get('requestId'), err: { message: error.message, stack: error.stack } }, 'unhandled error');
    return problem(c, 'INTERNAL', 'unexpected server error; the request id identifies it in the server log');
  });
  app.notFound((c) => problem(c, 'NOT_FOUND', `no route for ${c.req.method} ${c.req.path}`));

  app.route('/', webRoutes({ authenticate: bearerAuth(deps.tokens) as MiddlewareHandler, headPosition: () => deps.store.headPosition(), projections }));
  app.get('/metrics', async (c) => c.body(await metrics.exposition(), 200, { 'content-type': metrics.registry.contentType }));
  app.get('/healthz', (c) => c.json({ status: 'ok' } satisfies ResponseOf<typeof Health>));
  app.get('/readyz', async (c) => {
    const head = await deps.store.headPosition();
    const status = await projections.status();
    return c.json({
      status: 'ready',
      headPosition: head.toString(),
      projections: status.map((s) => ({ name: s.name, position: s.position.toString(), lag: s.lag.toString() })),
    } satisfies ResponseOf<typeof Ready>);
  });

  const v1 = new Hono<AppEnv>();
  v1.use('*', bearerAuth(deps.tokens));

  const maxBodyBytes = deps.maxBodyBytes ?? 4 * 1024 * 1024;
  // NaN would disable the limit (every size compared with it is not larger) and 0 refuse every body: never start without one.
  if (!Number.isSafeInteger(maxBodyBytes) || maxBodyBytes < 1) throw new RangeError(`the body limit must be a positive whole number of bytes, not ${String(maxBodyBytes)}`);
  const limitBody = boundedBody(maxBodyBytes, (c) => {
    // The rest of the body stays unread: the connection cannot be reused, so say so.
    c.header('Connection', 'close');
    return problem(c, 'PAYLOAD_TOO_LARGE', `request bodies are limited to ${maxBodyBytes} bytes`);
  });
  const submit = async (c: Context<AppEnv>) => {
        const type = requestHeader(c, 'content-type') ?? '';
        if (!/^application\/json\b/i.test(type)) {
          return problem(c, 'UNSUPPORTED_MEDIA_TYPE', 'send Content-Type: application/json');
        }
        let body: unknown;
        try {
          body = JSON.parse(bodyText(c));
        } catch {
          return problem(c, 'BODY_INVALID', 'the body is not JSON');
        }
        const inputs = Array.isArray(body)
          ? body
          : body !== null && typeof body === 'object' && Array.isArray((body as { events?: unknown }).events)
            ? (body as { events: unknown[] }).events
            : [body];
        let appended: Awaited<ReturnType<Ledger['submit']>>;
        try {
          appended = await ledger.submit(inputs, c.get('principal'));
        } catch (error) {
          metrics.refusedAppend(inputs);
          throw error;
        }
        metrics.appended(appended);
        const allDuplicates = appended.every((a) => a.duplicate);
        return c.json(
          {
            events: appended.map((a) => ({
              eventId: a.eventId,
              type: a.type,
              stream: a.stream,
              revision: Number(a.revision),
              position: Number(a.position),
              digest: a.digest,
              duplicate: a.duplicate,
            })),
          } satisfies ResponseOf<typeof AppendResult>,
          allDuplicates ? 200 : 201,
        );
  };

  const sbomEvidence = checkSbomEvidence(deps.sboms);
  v1.post('/events', requireRole('station', 'admin'), limitBody, sbomEvidence, submit);
  v1.post('/admin/events', requireRole('admin'), limitBody, sbomEvidence, submit);
  if (deps.sboms) v1.route('/', craRoutes({ projections, sboms: deps.sboms, signingKey: () => deps.checkpointer.recordKey(), origin: deps.origin, notifications: notificationRecorder({ store: deps.store, checkpointer: deps.checkpointer }) }));

  const id = (value: string | undefined) => {
    const parsed = Identifier.safeParse(value);
    if (!parsed.success) throw new LedgerError('NOT_FOUND', `${value ?? ''} is not a valid identifier`);
    return parsed.data;
  };

  v1.get('/units', requireRole('auditor', 'admin'), async (c) => {
    const { limit = 100, after } = validQuery(c, UnitsQuery);
    await projections.catchUp();
    const units = projections.list<UnitView>('unit-state', { limit, ...(after ? { after } : {}) }).map(publicUnitView);
    const last = units[units.length - 1];
    return c.json({ units, next: units.length === limit && last ? last.serial : null } satisfies ResponseOf<typeof UnitsPage>);
  });

  v1.get('/units/:serial', async (c) => {
    const serial = id(c.req.param('serial'));
    await projections.catchUp();
    const unit = projections.get<UnitView>('unit-state', serial);
    if (!unit) return problem(c, 'NOT_FOUND', `unit ${serial} has no events`);
    return c.json(publicUnitView(unit) satisfies ResponseOf<typeof UnitViewSchema>);
  });

  v1.get('/units/:serial/events', requireRole('auditor', 'admin', 'station'), async (c) => {
    const serial = id(c.req.param('serial'));
    const events = await ledger.readStream(unitStream(serial));
    if (events.length === 0) return problem(c, 'NOT_FOUND', `unit ${serial} has no events`);
    return c.json({ serial, stream: unitStream(serial), events: events.map(historyEntry) } satisfies ResponseOf<typeof UnitHistory>);
  });

  v1.get('/streams/:stream/head', async (c) => {
    const stream = c.req.param('stream');
    if (!/^(unit|station|release|batch|vuln)-[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/.test(stream)) {
      return problem(c, 'NOT_FOUND', `${stream} is not a ledger stream name`);
    }
    const head = await ledger.streamHead(stream);
    return c.json({ stream, revision: head ? Number(head.recorded.revision) : -1, digest: head ? head.digest : null } satisfies ResponseOf<typeof StreamHead>);
  });

  v1.get('/stations/:id', async (c) => {
    const stationId = id(c.req.param('id'));
    const state = await ledger.stateOf(stationAggregate.stream(stationId));
    if (state.stationId === null) return problem(c, 'NOT_FOUND', `station ${stationId} is not registered`);
    const history = await ledger.readStream(stationStream(stationId));
    return c.json({
      stationId,
      line: state.line,
      keys: [...state.keys.values()],
      events: history.map(historyEntry),
    } satisfies ResponseOf<typeof StationView>);
  });

  v1.get('/releases/:id', async (c) => {
    const releaseId = id(c.req.param('id'));
    const state = await ledger.stateOf(releaseAggregate.stream(releaseId));
    if (!state.approved) return problem(c, 'NOT_FOUND', `release ${releaseId} is not approved`);
    const history = await ledger.readStream(releaseStream(releaseId));
    return c.json({ release: state.approved, events: history.map(historyEntry) } satisfies ResponseOf<typeof ReleaseView>);
  });

  v1.get('/batches/:id', async (c) => {
    const batchId = id(c.req.param('id'));
    const state = await ledger.stateOf(batchAggregate.stream(batchId));
    if (state.status === 'unknown') return problem(c, 'NOT_FOUND', `batch ${batchId} does not exist`);
    const history = await ledger.readStream(batchStream(batchId));
    return c.json({ batchId, status: state.status, batch: state.opened, events: history.map(historyEntry) } satisfies ResponseOf<typeof BatchView>);
  });

  // The key in force at the newest checkpoint (docs/format.md §5.4): after a rotation on a shared log, the new one on every instance.
  v1.get('/ledger/key', async (c) => c.text((await deps.checkpointer.verifierKeyInForce()) + '\n'));
  v1.get('/ledger/pq-key', async (c) => (deps.mlDsaVerifierKey ? c.text(((await deps.checkpointer.mlDsaVerifierKeyInForce()) ?? deps.mlDsaVerifierKey) + '\n') : problem(c, 'NOT_FOUND', 'this ledger signs with Ed25519 alone (FLASHTRAIL_PQ_SIGNATURES=off)')));

  v1.get('/checkpoint', async (c) => c.text(await deps.checkpointer.latest()));
  v1.post('/checkpoint', requireRole('admin'), async (c) => c.text(await deps.checkpointer.issue(), 201));

  v1.get('/proofs/inclusion', async (c) => {
    const { index, size } = validQuery(c, InclusionQuery);
    await deps.log.catchUp();
    const logSize = await deps.log.size();
    if (size > logSize || index >= size) return problem(c, 'NOT_FOUND', `no leaf ${index} in a tree of size ${size} (the log has ${logSize})`);
    return c.json({ index, size, leafHash: toHex(await deps.log.leafHashAt(index)), proof: (await deps.log.inclusionProof(index, size)).map(toBase64) } satisfies ResponseOf<typeof InclusionProof>);
  });

  v1.get('/proofs/consistency', async (c) => {
    const { from, to } = validQuery(c, ConsistencyQuery);
    await deps.log.catchUp();
    const logSize = await deps.log.size();
    if (from > to || to > logSize) return problem(c, 'NOT_FOUND', `no consistency proof from ${from} to ${to} (the log has ${logSize})`);
    return c.json({ from, to, proof: (await deps.log.consistencyProof(from, to)).map(toBase64) } satisfies ResponseOf<typeof ConsistencyProof>);
  });

  v1.get('/units/:serial/provenance', requireRole('auditor', 'admin'), async (c) => {
    const serial = id(c.req.param('serial'));
    const plain = await buildProvenance(deps, serial);
    if (!plain) return problem(c, 'NOT_FOUND', `unit ${serial} has no events`);
    // The keys first: an instance of a shared log that does not hold the key in force says so at once (503 naming
    // both keys) rather than after waiting for a map commitment over a checkpoint it could not sign for anyway.
    const keys = await deps.checkpointer.statementKeysFor(plain.checkpoint);
    const unsigned = deps.unitMap ? await historyIfInService(plain, deps.unitMap, logger) : plain;
    // Served as the signed document's RFC 8785 bytes, serialized once (the statement's digest is of the same text).
    const { document, bytes } = signProvenanceBytes(unsigned, keys, deps.origin);
    c.header('X-Checkpoint-Size', String(checkpointSize(document.checkpoint)));
    return c.body(bytes, 200, { 'content-type': 'application/json' });
  });

  v1.route('/', interlockRoutes(readinessFromReadModel(projections), limitBody));
  v1.route('/', productionRoutes(projections));
  v1.route('/', mapRoutes(deps.unitMap ?? null, deps.store));

  v1.post('/exports', requireRole('auditor', 'admin'), limitBody, async (c) => {
    let body: unknown;
    try {
      body = JSON.parse(bodyText(c));
    } catch {
      return problem(c, 'BODY_INVALID', 'the body is not JSON');
    }
    const selection = ExportSelectionSchema.safeParse(body);
    if (!selection.success) return problem(c, 'SCHEMA_INVALID', selection.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
    // The statement names the page this ledger serves at /verify.html, which `flashtrail export` writes beside the file.
    const exportDeps = { ledger, log: deps.log, checkpointer: deps.checkpointer, projections, ledgerKey: deps.ledgerKey, mlDsaKey: deps.mlDsaKey ?? null, verifierPage: verifierPageRecord(verifierPage()), origin: deps.origin, clock: () => new Date(), unitMap: deps.unitMap ?? null, store: deps.store, logger };
    const serials = await selectUnits(exportDeps, selection.data);
    // The checkpoint is signed and the key records read before any header is sent: a failure is a problem document.
    const prepared = await prepareExport(exportDeps, selection.data, serials);
    const lines = prepared.lines();
    const requestId = c.get('requestId') as string | undefined;
    // Pulled chunk by chunk (whole lines), with backpressure. A failure mid-stream cuts the connection (no final chunk): the
    // client sees a truncated transfer, never a complete-looking file.
    const file = new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const next = await lines.next();
          if (next.done) controller.close();
          else controller.enqueue(next.value);
        } catch (error) {
          logger.error({ requestId, err: { message: (error as Error).message } }, 'export aborted');
          // Cut the connection itself: no final chunk, whatever the HTTP adapter would do with a stream error.
          const socket = (c.env as { incoming?: { socket?: { destroy(): void } } } | undefined)?.incoming?.socket;
          if (socket) {
            socket.destroy();
            controller.close();
          } else controller.error(error);
        }
      },
      async cancel() {
        await lines.return(undefined);
      },
    });
    // X-Export-Note: why a selection by firmware got no v5 (docs/format.md §7.6.3), for `flashtrail export` to say.
    return c.body(file, 200, { 'Content-Type': 'application/x-ndjson', 'X-Export-Units': String(prepared.candidates), 'X-Export-Format': prepared.format, ...(prepared.formatNote ? { 'X-Export-Note': prepared.formatNote } : {}) });
  });
  app.route('/v1', v1);
  app.route('/', scittRoutes(deps));

  // Rendered from the routes as mounted, once, on first request: a route the contract does not describe fails here.
  let document: { json: string; html: string } | null = null;
  const described = () => {
    if (document) return document;
    const doc = openApiDocument(app as unknown as Hono<never>, { version: deps.version ?? '1' });
    return (document = { json: JSON.stringify(doc), html: apiReference(doc) });
  };
  app.get('/openapi.json', (c) => c.body(described().json, 200, { 'content-type': 'application/json' }));
  app.get('/docs', (c) => c.html(described().html));
  return app;
}

/** One recorded event as served to clients: enough to re-verify signature and chain without trusting us. */
function historyEntry(e: StoredEvent): ResponseOf<typeof HistoryEntry> {
  return {
    position: Number(e.recorded.position),
    revision: Number(e.recorded.revision),
    recordedAt: e.recorded.recordedAt,
    digest: e.digest,
    event: e.event,
    // Only envelopes of EVENT_PAYLOAD_TYPE are ever appended (the codec refuses any other).
    envelope: e.envelope as ResponseOf<typeof HistoryEntry>['envelope'],
  };
}
