/**
 * Serial ports: the barcode scanner (lines in), and the device's port, which the flash tools use and the
 * agent reads the boot log on between tool runs.
 *
 * node-serialport takes an exclusive flock on the port when it opens it (bindings-cpp, `lock: true`), as
 * esptool and espefuse do (pyserial `exclusive=True`). So the agent never holds the device port while a
 * tool runs, nor between steps: `DevicePort.release()` runs the tool with the port closed, and opens it
 * right after only for a step that reads the boot log the tool's reset starts. Two readers on one tty
 * would split its bytes between them.
 */
import { SerialPort } from 'serialport';
import { ReadlineParser } from '@serialport/parser-readline';

/** A serial port that cannot be opened: missing, busy or not permitted. */
export class SerialPortError extends Error {
  override readonly name = 'SerialPortError';
}

export interface LineSource {
  onLine(listener: (line: string) => void): void;
  close(): Promise<void>;
}

function openPort(path: string, baudRate: number, role: string): Promise<SerialPort> {
  return new Promise((resolve, reject) => {
    const port = new SerialPort({ path, baudRate, autoOpen: false });
    port.open((error) => {
      if (error) return reject(new SerialPortError(`cannot open ${role} ${path}: ${error.message.replace(/^Error: /, '')}`));
      resolve(port);
    });
  });
}

const closePort = (port: SerialPort) => new Promise<void>((done) => (port.isOpen ? port.close(() => done()) : done()));

/** The scanner: one line per scan, CR LF or LF, bounded in length. */
export async function openScanner(path: string, baudRate: number): Promise<LineSource> {
  const port = await openPort(path, baudRate, 'the scanner port (ports.scanner.path)');
  const listeners: ((line: string) => void)[] = [];
  port.pipe(new ReadlineParser({ delimiter: '\n' })).on('data', (raw: string) => {
    const line = raw.replace(/\r$/, '').slice(0, 512);
    for (const l of listeners) l(line);
  });
  return { onLine: (l) => listeners.push(l), close: () => closePort(port) };
}

export interface ConsoleLine {
  readonly n: number;
  readonly line: string;
}

export class DevicePort {
  private port: SerialPort | null = null;
  private lines: ConsoleLine[] = [];
  private received = 0;
  private waiters: (() => void)[] = [];

  constructor(
    readonly path: string,
    readonly baudRate: number,
  ) {}

  /** Opens the port (with its exclusive lock) and starts collecting lines. */
  async open(): Promise<void> {
    if (this.port) return;
    const port = await openPort(this.path, this.baudRate, 'the device port (ports.console.path)');
    port.pipe(new ReadlineParser({ delimiter: '\n' })).on('data', (raw: string) => {
      this.received++;
      this.lines.push({ n: this.received, line: raw.replace(/\r$/, '').slice(0, 4096) });
      if (this.lines.length > 5000) this.lines.shift();
      for (const w of this.waiters.splice(0)) w();
    });
    this.port = port;
  }

  async close(): Promise<void> {
    const port = this.port;
    this.port = null;
    if (port) await closePort(port);
  }

  get isOpen(): boolean {
    return this.port !== null;
  }

  /**
   * Runs `use` (a tool) with the port closed: the tool takes it exclusively. With `listen`, opens it again at
   * once afterwards, for what the device prints after the tool's reset (the boot log); when it cannot be
   * opened (another program took it), `openError` says why and the capture finds nothing.
   */
  async release<T>(use: () => Promise<T>, listen = false): Promise<{ result: T; mark: number }> {
    await this.close();
    try {
      return { result: await use(), mark: this.received };
    } finally {
      this.openError = null;
      if (listen) {
        await this.open().catch((error: unknown) => {
          this.openError = (error as Error).message;
        });
      }
    }
  }

  /** Why the port could not be opened again after the last tool, or null. */
  openError: string | null = null;

  /**
   * Lines received after `mark` until `done` says so or `timeoutMs` passes (then `timedOut`); then whatever
   * follows within `settleMs` (the rest of the boot log), so that the capture is the whole of it.
   */
  async collect(mark: number, done: (lines: readonly string[]) => boolean, timeoutMs: number, settleMs = 300): Promise<{ lines: string[]; timedOut: boolean }> {
    if (!this.port) return { lines: [], timedOut: true };
    const end = Date.now() + timeoutMs;
    const since = () => this.lines.filter((l) => l.n > mark).map((l) => l.line);
    let timedOut = false;
    while (!done(since())) {
      const left = end - Date.now();
      if (left <= 0) {
        timedOut = true;
        break;
      }
      await this.next(left);
    }
    if (!timedOut) {
      for (;;) {
        const before = this.received;
        await this.next(settleMs);
        if (this.received === before) break;
      }
    }
    return { lines: since(), timedOut };
  }

  private next(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(wake);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve();
      }, timeoutMs);
      const wake = () => {
        clearTimeout(timer);
        resolve();
      };
      this.waiters.push(wake);
    });
  }
}
