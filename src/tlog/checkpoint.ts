/** C2SP tlog-checkpoint bodies (https://c2sp.org/tlog-checkpoint) and tlog-proof files (https://c2sp.org/tlog-proof). */
import { fromBase64, toBase64 } from '../crypto/encoding.ts';
import type { Hash } from '../merkle/hash.ts';

export class CheckpointFormatError extends Error {
  override readonly name = 'CheckpointFormatError';
}

export interface Checkpoint {
  readonly origin: string;
  readonly size: number;
  readonly root: Hash;
}

export function formatCheckpointBody(c: Checkpoint): string {
  return `${c.origin}\n${c.size}\n${toBase64(c.root)}\n`;
}

export function parseCheckpointBody(text: string): Checkpoint {
  const lines = text.split('\n');
  if (lines.length < 4 || lines[lines.length - 1] !== '') throw new CheckpointFormatError('a checkpoint has origin, size and root lines');
  const [origin, sizeText, rootText] = lines as [string, string, string];
  if (origin.length === 0) throw new CheckpointFormatError('empty origin');
  if (!/^(0|[1-9][0-9]*)$/.test(sizeText) || !Number.isSafeInteger(Number(sizeText))) throw new CheckpointFormatError(`bad tree size ${sizeText}`);
  let root: Uint8Array;
  try {
    root = fromBase64(rootText);
  } catch {
    throw new CheckpointFormatError('root hash is not base64');
  }
  if (root.length !== 32) throw new CheckpointFormatError('root hash is not 32 bytes');
  return { origin, size: Number(sizeText), root };
}

export const TLOG_PROOF_HEADER = 'c2sp.org/tlog-proof@v1';

export interface TlogProof {
  readonly index: number;
  readonly proof: Hash[];
  /** The signed checkpoint note, verbatim. */
  readonly checkpoint: string;
  readonly extra?: Uint8Array;
}

/** `base64`: the encoder (the portable one by default; a Node server passes OpenSSL's, the same text with less garbage). */
export function formatTlogProof(p: TlogProof, base64: (bytes: Uint8Array) => string = toBase64): string {
  return [
    TLOG_PROOF_HEADER,
    ...(p.extra ? [`extra ${base64(p.extra)}`] : []),
    `index ${p.index}`,
    ...p.proof.map((h) => base64(h)),
    '',
    p.checkpoint,
  ].join('\n');
}

export function parseTlogProof(text: string): TlogProof {
  const lines = text.split('\n');
  let i = 0;
  if (lines[i++] !== TLOG_PROOF_HEADER) throw new CheckpointFormatError(`a tlog proof starts with ${TLOG_PROOF_HEADER}`);
  let extra: Uint8Array | undefined;
  if (lines[i]?.startsWith('extra ')) extra = fromBase64((lines[i++] as string).slice(6));
  const indexLine = /^index (0|[1-9][0-9]*)$/.exec(lines[i++] ?? '');
  if (!indexLine) throw new CheckpointFormatError('missing index line');
  const proof: Hash[] = [];
  while (i < lines.length && lines[i] !== '') {
    const h = fromBase64(lines[i++] as string);
    if (h.length !== 32) throw new CheckpointFormatError('proof hash is not 32 bytes');
    proof.push(h);
  }
  if (lines[i++] !== '') throw new CheckpointFormatError('missing blank line before the checkpoint');
  return { index: Number(indexLine[1]), proof, checkpoint: lines.slice(i).join('\n'), ...(extra ? { extra } : {}) };
}
