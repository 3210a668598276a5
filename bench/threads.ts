/**
 * CPU time of each thread of this process while some work runs, from /proc/self/task/<tid>/stat (Linux; clock
 * ticks of 10 ms). Work spread over threads finishes, on an idle machine with a core per thread, in about the
 * CPU time of its busiest one: a figure a loaded machine distorts less than the wall clock. Threads that end
 * before the work does (a worker thread) are caught by sampling every 50 ms.
 */
import { readdirSync, readFileSync } from 'node:fs';

export interface ThreadCpu {
  /** CPU time of the busiest thread, ms. */
  readonly busiestMs: number;
  /** CPU time of every thread together, ms. */
  readonly totalMs: number;
  /** Threads by id and name, ms each (those of more than one tick). */
  readonly threads: Readonly<Record<string, number>>;
}

function threadTimes(): Map<string, number> {
  const times = new Map<string, number>();
  let tids: string[];
  try {
    tids = readdirSync('/proc/self/task');
  } catch {
    return times;
  }
  for (const tid of tids) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      times.set(`${tid} ${name}`, (Number(fields[11]) + Number(fields[12])) * 10);
    } catch {
      // The thread ended between the listing and the read: its last sample stands.
    }
  }
  return times;
}

/** Starts sampling; the function it returns stops and reports (null where /proc is not there). */
export function sampleThreadCpu(): () => ThreadCpu | null {
  const start = threadTimes();
  const last = new Map(start);
  const sample = () => {
    for (const [thread, ms] of threadTimes()) last.set(thread, Math.max(ms, last.get(thread) ?? 0));
  };
  const timer = setInterval(sample, 50);
  return () => {
    clearInterval(timer);
    sample();
    if (last.size === 0) return null;
    const threads: Record<string, number> = {};
    for (const [thread, ms] of last) {
      const used = ms - (start.get(thread) ?? 0);
      if (used > 10) threads[thread] = used;
    }
    const used = Object.values(threads);
    return { busiestMs: Math.max(0, ...used), totalMs: used.reduce((a, b) => a + b, 0), threads };
  };
}
