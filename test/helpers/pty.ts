/** Pseudo-terminal pairs made with socat, standing in for a barcode scanner and a device console. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export interface PtyPair {
  /** The end the test (or the scripted device) writes to. */
  readonly device: string;
  /** The end the station opens, as it would open /dev/ttyUSB0. */
  readonly station: string;
  close(): void;
}

export async function ptyPair(dir: string, name: string): Promise<PtyPair> {
  const device = join(dir, `${name}-device`);
  const station = join(dir, `${name}-station`);
  const child: ChildProcess = spawn('socat', [`pty,raw,echo=0,link=${device}`, `pty,raw,echo=0,link=${station}`], { stdio: 'ignore' });
  for (let i = 0; i < 100 && !(existsSync(device) && existsSync(station)); i++) await new Promise((r) => setTimeout(r, 20));
  if (!existsSync(device) || !existsSync(station)) throw new Error('socat did not create the pseudo-terminals');
  return { device, station, close: () => child.kill() };
}

/** Probed without spawning a child that could emit an unhandled 'error' when socat is missing. */
export function socatAvailable(): boolean {
  const probe = spawnSync('socat', ['-V'], { stdio: 'ignore' });
  return probe.error === undefined && probe.status === 0;
}
