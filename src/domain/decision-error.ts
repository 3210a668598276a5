/** A domain rule refused an event. Nothing was written. */
export class DecisionError extends Error {
  override readonly name = 'DecisionError';
  constructor(
    /** Stable UPPER_SNAKE_CASE rule code, part of the API contract. */
    readonly rule: string,
    message: string,
    /** The aggregate's state when the event was refused, for the caller's diagnosis. */
    readonly currentState: string,
  ) {
    super(message);
  }
}
