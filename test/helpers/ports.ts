/**
 * Ports for test servers that are stopped and started again on the same port (a broker outage, a database
 * crash). A port the kernel hands out with listen(0) lies in the ephemeral range, where the kernel also picks
 * the local port of every outgoing connection: while the server is down, any process on the machine (another
 * test file, a client reconnecting) may be given that port, and the restart then fails to bind (seen in CI:
 * RabbitMQ's "could not bind to distribution port … not_erlang"). A port below the ephemeral range is never
 * handed out by the kernel, so only another explicit choice could take it; a random pick, checked free, makes
 * that unlikely.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

function ephemeralRangeStart(): number {
  try {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (low && Number.isInteger(low) && low > 12_000) return low;
  } catch {
    // not Linux: the IANA dynamic range starts at 49152, and Linux's default at 32768
  }
  return 32_768;
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A free loopback port below the ephemeral range: it stays free for a restart on it. */
export async function restartablePort(): Promise<number> {
  const high = ephemeralRangeStart() - 1;
  const low = 10_000;
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low + 1));
    if (await canListen(port)) return port;
  }
  throw new Error(`no free port found between ${low} and ${high}`);
}
