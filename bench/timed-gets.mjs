// The measuring client of bench/scale.ts, in a process of its own: given {url, token, paths} as JSON on stdin, it
// GETs each path in turn on one kept-alive connection (node:http) and prints each one's latency in ms, from the
// request to the last byte of the answer, as a JSON array. Apart from the benchmark's process on purpose: that
// one holds the data set's bookkeeping, and its own garbage collections (incremental mark-compacts of 4 to 19 ms
// every 200 to 300 ms, measured with --trace-gc on Node 26) landed inside the requests it timed, a p99 of 11 to
// 18 ms where this client measures 6 to 8 against the same server. Plain JavaScript: no loader to start.
import { Agent, request } from 'node:http';

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const { url, token, paths } = JSON.parse(Buffer.concat(chunks).toString('utf8'));
const base = new URL(url);
const agent = new Agent({ keepAlive: true, maxSockets: 1 });

function get(path) {
  return new Promise((resolve, reject) => {
    const req = request({ host: base.hostname, port: base.port, path, agent, headers: { authorization: `Bearer ${token}` } }, (res) => {
      res.on('data', () => undefined);
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

const latencies = [];
for (const path of paths) {
  const t = performance.now();
  const status = await get(path);
  if (status !== 200) {
    process.stderr.write(`${path}: ${status}\n`);
    process.exit(1);
  }
  latencies.push(performance.now() - t);
}
agent.destroy();
process.stdout.write(JSON.stringify(latencies));
