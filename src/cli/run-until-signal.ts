/**
 * For long-running commands (serve, station run): on SIGINT or SIGTERM, shut down cleanly (the command's
 * own drain), then exit 0; exit 1 with one line if the shutdown itself fails. A second signal while
 * shutting down exits at once (1): an operator who presses Ctrl-C twice means it.
 */
export function runUntilSignal(shutdown: (signal: NodeJS.Signals) => Promise<void>): Promise<number> {
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      process.stderr.write(`flashtrail: ${signal} again: exiting without waiting for the shutdown to finish\n`);
      process.exit(1);
    }
    stopping = true;
    shutdown(signal).then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`flashtrail: shutdown failed: ${(error as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  // Never resolves: the process ends from the signal handler.
  return new Promise<number>(() => undefined);
}
