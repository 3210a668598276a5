import type { LedgerEvent } from '../../schemas/index.ts';

/** Which stream an event belongs to follows from its type and data: nothing to get wrong at the source. */
export function streamOf(event: LedgerEvent): string {
  switch (event.type) {
    case 'StationRegistered':
    case 'StationKeyRegistered':
    case 'StationKeyRevoked':
      return stationStream(event.data.stationId);
    case 'ReleaseApproved':
    case 'SbomAttached':
    case 'SupportPeriodSet':
      return releaseStream(event.data.releaseId);
    case 'VulnerabilityAssessed':
    case 'VulnerabilityAwareness':
    case 'CraReportSubmitted':
      return vulnerabilityStream(event.data.vulnerabilityId);
    case 'BatchOpened':
    case 'BatchClosed':
      return batchStream(event.data.batchId);
    case 'AdminKeysTrusted':
      return LEDGER_TRUST_STREAM;
    case 'CheckpointIssued':
      return LEDGER_CHECKPOINT_STREAM;
    case 'LedgerKeyAnnounced':
      return LEDGER_KEYS_STREAM;
    case 'LedgerKeyRotated':
      return LEDGER_KEY_ROTATIONS_STREAM;
    case 'ScittStatementRegistered':
      return ledgerStatementStream(event.data.serial);
    case 'NotificationListProduced':
      return ledgerNotificationStream(event.data.vulnerabilityId);
    default:
      return unitStream(event.data.serial);
  }
}

export const unitStream = (serial: string) => `unit-${serial}`;
export const stationStream = (stationId: string) => `station-${stationId}`;
export const releaseStream = (releaseId: string) => `release-${releaseId}`;
export const batchStream = (batchId: string) => `batch-${batchId}`;
/** One vulnerability's assessments and its Art. 14 reporting (CVE-…, GHSA-…, EUVD-…). */
export const vulnerabilityStream = (vulnerabilityId: string) => `vuln-${vulnerabilityId}`;
export const LEDGER_TRUST_STREAM = 'ledger-trust';
export const LEDGER_CHECKPOINT_STREAM = 'ledger-checkpoints';
/** The ledger's post-quantum key announcements (LedgerKeyAnnounced). */
export const LEDGER_KEYS_STREAM = 'ledger-keys';
/** The ledger's Ed25519 key rotations (LedgerKeyRotated): the chain of ledger keys, each signed by the one before. */
export const LEDGER_KEY_ROTATIONS_STREAM = 'ledger-key-rotations';
/** The SCITT statement the ledger registered for a shipped unit (one per unit). */
export const LEDGER_STATEMENT_STREAM_PREFIX = 'ledger-statement-';
export const ledgerStatementStream = (serial: string) => `${LEDGER_STATEMENT_STREAM_PREFIX}${serial}`;
/** The notification lists the ledger produced for one vulnerability (NotificationListProduced). */
export const LEDGER_NOTIFICATION_STREAM_PREFIX = 'ledger-notifications-';
export const ledgerNotificationStream = (vulnerabilityId: string) => `${LEDGER_NOTIFICATION_STREAM_PREFIX}${vulnerabilityId}`;
