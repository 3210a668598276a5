/**
 * docs/format.md §1: a length in characters counts Unicode code points, in every verifier. The TypeScript side
 * (the zod schemas, shared by the CLI, the package and the page) and the independent Python verifier (c_text)
 * must agree on a code point above U+FFFF, which is two UTF-16 code units.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ShortText } from '../schemas/common.ts';

const emoji = '\u{1F600}';

describe('characters (docs/format.md §1)', () => {
  it('a code point above U+FFFF is one character in the schemas', () => {
    expect(ShortText.safeParse(emoji.repeat(200)).success).toBe(true);
    expect(ShortText.safeParse(emoji.repeat(201)).success).toBe(false);
    expect(ShortText.safeParse('\u00e9'.repeat(201)).success).toBe(false);
  });

  it('the Python verifier counts the same', (ctx) => {
    const dir = join(fileURLToPath(new URL('.', import.meta.url)), 'interop', 'python');
    const r = spawnSync('/usr/bin/python3', ['-c', `import sys; sys.path.insert(0, ${JSON.stringify(dir)}); import flashtrail_verify as f; print(f.c_text(1, 200)(sys.argv[1]) is None, f.c_text(1, 200)(sys.argv[2]) is None)`, emoji.repeat(200), emoji.repeat(201)], { encoding: 'utf8' });
    if (r.error || r.status !== 0) {
      console.log(`skipped: the Python verifier needs /usr/bin/python3 with python3-cryptography (${r.error?.message ?? r.stderr.trim().split('\n').pop()})`);
      ctx.skip();
      return;
    }
    expect(r.stdout.trim()).toBe('True False');
  });
});
