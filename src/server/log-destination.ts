/**
 * Where `flashtrail serve` writes its log (stdout): one line per request, as in production, but not one
 * write(2) per request line. The request lines of one turn of the event loop go out together, in order, in
 * one synchronous write at the end of the turn (sonic-boom, which retries short and EAGAIN writes). Every
 * other line (start-up, warnings, errors, shutdown) is written at once, after whatever is pending, so that
 * the order of the log is kept and nothing but a request line ever waits; what is pending when the process
 * exits (also on an uncaught exception) is written first. 64 stations' requests were one system call each
 * (about 3 % of the serving thread's CPU, profiled); a kill -9 can now lose at most the request lines of the
 * turn it interrupts, never an acknowledged event.
 */
import { pino, type DestinationStream } from 'pino';

/** The message of the per-request line (src/api/middleware.ts requestLog). */
const REQUEST_LINE = 'request';

let stdout: DestinationStream | null = null;

/** The process's one batched stdout destination (one exit hook, however many ledgers a test starts). */
export function stdoutPerTurn(): DestinationStream {
  if (stdout) return stdout;
  const out = pino.destination({ dest: 1, sync: true });
  let pending = '';
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (pending === '') return;
    const lines = pending;
    pending = '';
    out.write(lines);
  };
  process.on('exit', flush);
  const destination = {
    // pino sets lastMsg on a destination that asks for it, before it calls write.
    [Symbol.for('pino.metadata')]: true,
    lastMsg: undefined as unknown,
    write(line: string) {
      if (destination.lastMsg !== REQUEST_LINE) {
        pending += line;
        flush();
        return;
      }
      pending += line;
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
  };
  stdout = destination;
  return stdout;
}
