/**
 * Every rule a decider can refuse an event under. The codes travel to clients as the `rule` member of a
 * RULE_VIOLATION problem: they are API, so never rename one.
 */
export const RULE_CODES = [
  // every stream (src/domain/event-time.ts)
  'CLOCK_SKEW',
  'TIME_BEFORE_PREVIOUS',
  'EVENT_TOO_OLD',
  // unit
  'UNIT_SCRAPPED',
  'UNIT_SHIPPED',
  'UNIT_NOT_SCANNED',
  'UNIT_ALREADY_SCANNED',
  'CHAIN_LOCKED',
  'BATCH_NOT_OPEN',
  'BATCH_MISMATCH',
  'STATION_MISMATCH',
  'OUT_OF_SEQUENCE',
  'BOOTLOADER_REQUIRED',
  'APP_NOT_VERIFIED',
  'PROVISIONING_REQUIRED',
  'NOT_LOCKED',
  // station
  'STATION_EXISTS',
  'STATION_UNKNOWN',
  'KEY_ID_MISMATCH',
  'KEY_INVALID',
  'KEY_EXISTS',
  'KEY_UNKNOWN',
  'KEY_REVOKED',
  'KEY_IN_USE',
  // release and batch
  'RELEASE_EXISTS',
  'RELEASE_UNKNOWN',
  'BATCH_EXISTS',
  'SKU_MISMATCH',
  // the ledger's own streams
  'WRITTEN_BY_LEDGER',
] as const;

export type RuleCode = (typeof RULE_CODES)[number];

/** A domain rule refused an event. Nothing was written. */
export class DecisionError extends Error {
  override readonly name = 'DecisionError';
  constructor(
    readonly rule: RuleCode,
    message: string,
    /** The aggregate's state when the event was refused, for the caller's diagnosis. */
    readonly currentState: string,
  ) {
    super(message);
  }
}
