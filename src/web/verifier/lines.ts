/// <reference lib="dom" />
/**
 * The lines of a browser File (or any byte stream) as bytes, newline included, pulled chunk by chunk: the file
 * is read only as fast as the verifier consumes lines, so a large export never sits in memory whole. A line
 * longer than `maxLineBytes` is refused as soon as that much is buffered, as the Node reader does
 * (src/native/export-verifier.ts), with the same code and location.
 */
import { VerificationError } from '../../verify/index.ts';

export async function* linesOfStream(stream: ReadableStream<Uint8Array>, maxLineBytes: number, onConsumed: (bytes: number) => void = () => undefined): AsyncGenerator<Uint8Array> {
  const reader = stream.getReader();
  let rest = new Uint8Array(0);
  let line = 0;
  let consumed = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      const data = rest.length > 0 ? concat(rest, value) : value;
      let start = 0;
      let nl: number;
      while ((nl = data.indexOf(10, start)) >= 0) {
        line++;
        consumed += nl + 1 - start;
        yield data.subarray(start, nl + 1);
        start = nl + 1;
      }
      onConsumed(consumed);
      rest = data.slice(start);
      if (rest.length > maxLineBytes) throw new VerificationError('FORMAT_ERROR', 'format', `line ${line + 1} is longer than ${maxLineBytes} bytes`, { line: line + 1 });
    }
    if (rest.length > 0) yield rest;
    onConsumed(consumed + rest.length);
  } finally {
    reader.releaseLock();
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}
