import { utf8 } from '../crypto/encoding.ts';
import { sha256Hex } from '../crypto/sha256.ts';

/** A small seeded PRNG (mulberry32): the simulator's runs are reproducible from their seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A version 4 UUID drawn from the given generator. With a `scope` (the batch id: new on every run), the draw is
 * hashed with it: event ids are unique per ledger, so two runs of the same seed against one ledger
 * (`simulate --url`) must not reuse each other's ids, while one run stays reproducible from its seed and batch.
 */
export function seededUuid(random: () => number, scope?: string): string {
  let hex = Array.from({ length: 32 }, () => Math.floor(random() * 16).toString(16));
  if (scope !== undefined) hex = [...sha256Hex(utf8(`flashtrail/sim-event-id/v1\0${scope}\0${hex.join('')}`)).slice(0, 32)];
  hex[12] = '4';
  hex[16] = ((parseInt(hex[16] as string, 16) & 0x3) | 0x8).toString(16);
  const h = hex.join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
