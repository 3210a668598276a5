/**
 * The offline page reads an export as the CLI does: its line reader (src/web/verifier/lines.ts, over a browser
 * ReadableStream) yields the same lines as the Node reader (src/native/export-verifier.ts) whatever the chunk
 * boundaries, and refuses an over-long line with the same code, step and line number.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { linesOfStream } from '../src/web/verifier/lines.ts';
import { readLines } from '../src/native/export-verifier.ts';
import { VerificationError } from '../src/verify/index.ts';
import { scrapBand } from '../src/web/app/band.ts';

const dir = mkdtempSync(join(tmpdir(), 'flashtrail-web-lines-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function streamOf(bytes: Uint8Array, chunk: number): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.length) return controller.close();
      controller.enqueue(bytes.slice(at, at + chunk));
      at += chunk;
    },
  });
}

async function collect<T>(lines: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const l of lines) out.push(l);
  return out;
}

const text = (lines: Uint8Array[]) => lines.map((l) => new TextDecoder().decode(l));

describe('the page reads lines as the CLI does', () => {
  const content = new TextEncoder().encode(['{"record":"header"}', 'x'.repeat(5000), '', 'ü€ line 4', 'last without newline'].join('\n'));
  const file = join(dir, 'lines.ndjson');
  writeFileSync(file, content);

  for (const chunk of [1, 7, 4096, 1 << 20]) {
    it(`the same lines, newlines included, with chunks of ${chunk} bytes; progress reaches the file size`, async () => {
      let consumed = 0;
      const browser = text(await collect(linesOfStream(streamOf(content, chunk), 1 << 20, (n) => (consumed = n))));
      expect(browser).toEqual(text(await collect(readLines(file))));
      expect(browser).toHaveLength(5);
      expect(consumed).toBe(content.length);
    });
  }

  it('an over-long line: FORMAT_ERROR at step format naming its line, as the Node reader says, before the rest is read', async () => {
    // Longer than a chunk of either reader (the Node one reads 1 MiB at a time): refused once the buffer passes the limit.
    const long = new TextEncoder().encode(`{"record":"header"}\n${'y'.repeat(3 << 20)}\n{}\n`);
    const longFile = join(dir, 'long.ndjson');
    writeFileSync(longFile, long);
    const failure = async (lines: AsyncIterable<Uint8Array>) => collect(lines).then(() => null, (e: unknown) => e as VerificationError);
    const browser = await failure(linesOfStream(streamOf(long, 1 << 20), 3 << 19));
    const node = await failure(readLines(longFile, 3 << 19));
    expect(browser).toBeInstanceOf(VerificationError);
    expect({ code: browser?.code, step: browser?.step, line: browser?.location.line, message: browser?.message }).toEqual({ code: node?.code, step: node?.step, line: node?.location.line, message: node?.message });
    expect(browser?.location.line).toBe(2);
  });
});

describe('the dashboard\'s reference band for the scrap rate', () => {
  it('production-side below 0.5 %, field flashing 1–4 %, and between and above them', () => {
    expect(scrapBand(0.004)).toMatch(/^within the production-side reference/);
    expect(scrapBand(0.005)).toMatch(/below the field-flashing band/);
    expect(scrapBand(0.02)).toMatch(/within the field-flashing band/);
    expect(scrapBand(0.04)).toMatch(/within the field-flashing band/);
    expect(scrapBand(0.25)).toMatch(/^above both reference bands/);
  });
});
