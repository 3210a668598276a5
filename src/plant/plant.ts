/**
 * The ledger on the plant broker, as the composition root starts it: one AMQP connection (broker.ts), the
 * CFX publisher on it (a projection of the log with its cursor in the data directory) and, when a request
 * address is configured, the interlock answering ValidateUnitsRequest. Started after the start-up checks,
 * stopped before the stores close. A broker that is down at start is not an error: the connection retries
 * for as long as the ledger runs, and appends never wait for it.
 *
 * PlantStats is what /metrics reads: plain numbers (no bigint), one snapshot per call.
 */
import { join } from 'node:path';
import type { EventStore } from '../store/event-store.ts';
import type { ReadModel } from '../read/read-model.ts';
import { BrokerConnection, connectionOptions, type BrokerLogger } from './broker.ts';
import { describeBroker, type CfxConfig } from './config.ts';
import { CfxInterlock } from './interlock.ts';
import { CfxPublisher } from './publisher.ts';
import { readinessFromReadModel } from './readiness.ts';

/** The publisher's cursor and mapping state, in the data directory (derived: deleting it republishes). */
export const publisherFile = (dataDir: string): string => join(dataDir, 'cfx-publisher.sqlite');

export interface PlantStats {
  /** The AMQP connection and the publishing link are open. */
  readonly connected: boolean;
  /** This instance is the one publishing (several instances on one store: the elected log writer). */
  readonly publishing: boolean;
  /** Log position of the last event whose messages the broker accepted (-1: none yet). */
  readonly cursorPosition: number;
  readonly headPosition: number;
  /** Log positions not yet published (head − cursor): the number to alert on. */
  readonly lagEvents: number;
  readonly published: number;
  readonly inFlight: number;
  readonly buffered: number;
  /** Messages the broker refused since start (each is sent again). */
  readonly deliveryFailures: number;
  /** Broker connections lost or refused since start. */
  readonly connectionFailures: number;
  /** ValidateUnitsRequest answered / rejected since start (0 without an interlock). */
  readonly validationsAnswered: number;
  readonly validationsRejected: number;
  readonly lastError: string | null;
}

/** What /metrics calls: the plant's numbers now, or null when no broker is configured. */
export type PlantStatsSource = () => Promise<PlantStats | null>;

export interface PlantDeps {
  readonly store: EventStore;
  readonly projections: ReadModel;
  readonly dataDir: string;
  /** The ledger's own URL: provenance links point there unless FLASHTRAIL_CFX_LEDGER_URL says otherwise. */
  readonly ledgerUrl: string;
  readonly logger?: BrokerLogger;
  /** Publish only while this is true (the elected log writer, when several instances share a store). */
  readonly publishWhile?: () => boolean;
}

export class Plant {
  private constructor(
    private readonly connection: BrokerConnection,
    private readonly publisher: CfxPublisher,
    private readonly interlock: CfxInterlock | null,
  ) {}

  static async start(config: CfxConfig, deps: PlantDeps): Promise<Plant> {
    // What can be checked without the broker is checked before anything starts (an unreadable CA file is one line).
    connectionOptions(config.broker, config.handle);
    const connection = new BrokerConnection(config.broker, { containerId: config.handle, ...(deps.logger ? { logger: deps.logger } : {}) });
    const base = config.ledgerBaseUrl ?? deps.ledgerUrl;
    const publisher = new CfxPublisher({
      store: deps.store,
      broker: connection,
      file: publisherFile(deps.dataDir),
      address: config.publishAddress,
      mapping: { handle: config.handle, provenanceUrl: (serial) => `${base}/v1/units/${encodeURIComponent(serial)}/provenance` },
      maxInFlight: config.maxInFlight,
      start: config.start,
      ...(deps.logger ? { logger: deps.logger } : {}),
      ...(deps.publishWhile ? { active: deps.publishWhile } : {}),
    });
    const interlock = config.validationAddress
      ? new CfxInterlock({
          broker: connection,
          address: config.validationAddress,
          handle: config.handle,
          readiness: readinessFromReadModel(deps.projections),
          ...(deps.logger ? { logger: deps.logger } : {}),
        })
      : null;
    await publisher.start();
    interlock?.start();
    connection.start();
    deps.logger?.info(
      { broker: describeBroker(config.broker), handle: config.handle, publishAddress: config.publishAddress, validationAddress: config.validationAddress },
      'CFX publisher started',
    );
    return new Plant(connection, publisher, interlock);
  }

  async stats(): Promise<PlantStats> {
    const p = await this.publisher.stats();
    const i = this.interlock?.stats() ?? null;
    return {
      connected: p.connected,
      publishing: p.active,
      cursorPosition: Number(p.cursor),
      headPosition: Number(p.head),
      lagEvents: Number(p.lag),
      published: p.published,
      inFlight: p.inFlight,
      buffered: p.buffered,
      deliveryFailures: p.deliveryFailures,
      connectionFailures: p.connectionFailures,
      validationsAnswered: i?.answered ?? 0,
      validationsRejected: i?.rejected ?? 0,
      lastError: p.lastError ?? i?.lastError ?? null,
    };
  }

  /** Interlock first (no new answers), then the publisher (its cursor file closed), then the connection. */
  async stop(): Promise<void> {
    await this.interlock?.stop();
    await this.publisher.stop();
    await this.connection.stop();
  }
}
