/** A real `flashtrail witness serve` on a free port, ready once it logs that it listens (from dist). */
import { spawn, type ChildProcess } from 'node:child_process';
import { FLASHTRAIL_BIN, ROOT } from './cli.ts';

export interface WitnessProcess {
  readonly url: string;
  readonly verifierKey: string;
  output(): string;
  stop(): Promise<void>;
}

export function spawnWitness(dir: string): Promise<WitnessProcess> {
  const child: ChildProcess = spawn(process.execPath, [FLASHTRAIL_BIN, 'witness', 'serve', '--dir', dir, '--port', '0'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`witness did not start within 20 s:\n${output}`)), 20_000);
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    child.stdout?.on('data', (d: Buffer) => {
      output += d.toString();
      const line = output.split('\n').find((l) => l.includes('flashtrail witness listening'));
      if (!line) return;
      clearTimeout(timer);
      const { url, verifierKey } = JSON.parse(line) as { url: string; verifierKey: string };
      resolve({
        url,
        verifierKey,
        output: () => output,
        stop: () =>
          new Promise((done) => {
            if (child.exitCode !== null) return done();
            child.once('exit', () => done());
            child.kill('SIGTERM');
          }),
      });
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`witness exited with ${String(code)} before listening:\n${output}`));
    });
  });
}
