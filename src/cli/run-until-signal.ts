/** For long-running commands (serve, station run): on SIGINT or SIGTERM, shut down cleanly, then exit 0. */
export function runUntilSignal(shutdown: () => Promise<void>): Promise<number> {
  const stop = () => {
    void shutdown().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  // Never resolves: the process ends from the signal handler.
  return new Promise<number>(() => undefined);
}
