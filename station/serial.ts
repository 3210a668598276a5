/** Line-oriented serial ports: the barcode scanner and the device console. */
import { SerialPort } from 'serialport';
import { ReadlineParser } from '@serialport/parser-readline';

export interface LineSource {
  /** Number of lines received so far: a mark to wait from. */
  readonly received: number;
  onLine(listener: (line: string) => void): void;
  /** Resolves with the first match of `pattern` in a line received after `since`, or null at the timeout. */
  waitFor(pattern: RegExp, since: number, timeoutMs: number): Promise<RegExpMatchArray | null>;
  close(): Promise<void>;
}

/** A serial port that cannot be opened: missing, busy or not permitted. */
export class SerialPortError extends Error {
  override readonly name = 'SerialPortError';
}

/** `role` names the port in errors: "the scanner port". */
export function openSerialLines(path: string, baudRate: number, role = 'serial port'): Promise<LineSource> {
  return new Promise((resolve, reject) => {
    const port = new SerialPort({ path, baudRate, autoOpen: false });
    const recent: { n: number; line: string }[] = [];
    const listeners: ((line: string) => void)[] = [];
    let received = 0;
    port.open((error) => {
      if (error) return reject(new SerialPortError(`cannot open ${role} ${path}: ${error.message.replace(/^Error: /, '')}`));
      const parser = port.pipe(new ReadlineParser({ delimiter: '\n' }));
      parser.on('data', (raw: string) => {
        const line = raw.replace(/\r$/, '');
        received++;
        recent.push({ n: received, line });
        if (recent.length > 2000) recent.shift();
        for (const l of listeners) l(line);
      });
      resolve({
        get received() {
          return received;
        },
        onLine: (listener) => listeners.push(listener),
        waitFor: (pattern, since, timeoutMs) =>
          new Promise((done) => {
            for (const r of recent) {
              const m = r.n > since ? pattern.exec(r.line) : null;
              if (m) return done(m);
            }
            const listener = (line: string) => {
              const m = pattern.exec(line);
              if (m) finish(m);
            };
            const timer = setTimeout(() => finish(null), timeoutMs);
            const finish = (m: RegExpMatchArray | null) => {
              clearTimeout(timer);
              const i = listeners.indexOf(listener);
              if (i >= 0) listeners.splice(i, 1);
              done(m);
            };
            listeners.push(listener);
          }),
        close: () => new Promise((done) => (port.isOpen ? port.close(() => done()) : done())),
      });
    });
  });
}
