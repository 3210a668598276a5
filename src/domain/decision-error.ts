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
  // unit: who may write, and bounds (issue 13)
  'TIME_REGRESSION',
  'BEFORE_STATION_REGISTERED',
  'BEFORE_BATCH_OPENED',
  'LINE_MISMATCH',
  'ROLE_NOT_ALLOWED',
  'STATION_NOT_OWNER',
  'FAILURE_LIMIT',
  'ATTEMPT_LIMIT',
  'STREAM_LIMIT',
  // unit: the release's recipe
  'RECIPE_MISMATCH',
  'RELEASE_MISMATCH',
  'RECIPE_INCOMPLETE',
  'STEP_UNKNOWN',
  'STEP_OUT_OF_ORDER',
  'STEP_NOT_STARTED',
  'NOT_VERIFIED',
  'FUSES_MISMATCH',
  'IMAGE_MISMATCH',
  'METHOD_MISMATCH',
  'VERIFY_MISMATCH',
  'TEMPLATE_MISMATCH',
  'CHECKS_MISMATCH',
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
  // CRA (issue 21): field updates, SBOMs, support periods, vulnerabilities
  'UNIT_NOT_SHIPPED',
  'SBOM_NOT_DECLARED',
  'SBOM_MISMATCH',
  'SBOM_EXISTS',
  'SUPPORT_PERIOD_SHORTENED',
  'SUPPORT_END_BEFORE_APPROVAL',
  'AWARENESS_EXISTS',
  'AWARENESS_REQUIRED',
  'REPORT_BEFORE_AWARENESS',
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
