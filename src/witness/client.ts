/**
 * The log side of C2SP tlog-witness: submits each new checkpoint to the witnesses a policy names, with the
 * consistency proof from the size each witness last cosigned, and collects their cosignatures. A witness's
 * answer is only taken once its cosignature verifies under the key the policy pins (a witness, or anything
 * between us and it, could return anything).
 *
 * The size a witness last cosigned is remembered per witness; when it is unknown (first contact, a restart)
 * or wrong, the witness's 409 tells it (`text/x.tlog.size`), and the submission is retried once from there.
 */
import type { Logger } from 'pino';
import { verifyCosignatures, type CosignerKey } from '../tlog/cosignature.ts';
import type { PolicyWitness, WitnessPolicy } from '../tlog/policy.ts';
import { quorumMet } from '../tlog/policy.ts';
import { formatAddCheckpoint, TLOG_SIZE_CONTENT_TYPE } from '../tlog/witness.ts';
import type { Hash } from '../merkle/hash.ts';
import { nativeCrypto } from '../native/crypto.ts';
import type { RotationRecord } from '../verify/rotation-records.ts';
import { ADD_LEDGER_KEY_PATH } from './ledger-key.ts';

/** RFC 6962 consistency proof between two sizes of the log being witnessed. */
export type ConsistencyProver = (from: number, to: number) => Promise<Hash[]>;
/** The log's LedgerKeyRotated records with tlog-proofs against the checkpoint being submitted (§5.1.1). */
export type RotationProver = () => Promise<readonly RotationRecord[]>;

export class WitnessRefusedError extends Error {
  override readonly name = 'WitnessRefusedError';
  constructor(
    readonly witness: string,
    readonly status: number | null,
    message: string,
  ) {
    super(message);
  }
}

const MAX_RESPONSE_BYTES = 64 * 1024;

export class WitnessClient {
  /** The size this witness last cosigned for us, as far as we know. */
  private knownSize: number | null = null;

  constructor(
    readonly witness: { readonly name: string; readonly url: string; readonly key: CosignerKey },
    private readonly timeoutMs: number,
  ) {}

  /** The witness's cosignature line (with its newline) on `note`, a checkpoint of `size` leaves. */
  async cosign(note: string, size: number, prove: ConsistencyProver, rotations?: RotationProver): Promise<string> {
    let old = this.knownSize !== null && this.knownSize <= size ? this.knownSize : 0;
    let keyShown = false;
    let sizeRetried = false;
    for (;;) {
      const proof = old === 0 || old === size ? [] : await prove(old, size);
      const response = await this.post(formatAddCheckpoint({ oldSize: old, proof, checkpoint: note }));
      const text = await readBounded(response, this.witness.name);
      if (response.status === 200) {
        const line = this.ownLine(note, text);
        this.knownSize = size;
        return line;
      }
      // 403: the witness knows no key that signed it. After a rotation it knows the log by an older key: show it
      // the chain (a flashtrail extension, docs/format.md §5.1.1), then submit again, once.
      if (response.status === 403 && rotations && !keyShown) {
        const records = await rotations();
        if (records.length > 0) {
          keyShown = true;
          await this.showLedgerKey(note, records);
          continue;
        }
      }
      if (response.status === 409 && (response.headers.get('content-type') ?? '').startsWith(TLOG_SIZE_CONTENT_TYPE)) {
        const latest = /^(0|[1-9][0-9]*)\n$/.exec(text);
        if (!latest) throw new WitnessRefusedError(this.witness.name, 409, `witness ${this.witness.name} answered 409 without a size`);
        const theirs = Number(latest[1]);
        this.knownSize = theirs;
        if (theirs > size) {
          throw new WitnessRefusedError(this.witness.name, 409, `witness ${this.witness.name} has cosigned a tree of ${theirs} leaves, larger than this checkpoint's ${size}: this ledger's log is behind what it signed before, or another copy of it signed more`);
        }
        if (!sizeRetried && theirs !== old) {
          sizeRetried = true;
          old = theirs;
          continue;
        }
      }
      throw new WitnessRefusedError(this.witness.name, response.status, `witness ${this.witness.name} refused checkpoint ${size} with ${response.status}: ${text.trim().slice(0, 300)}`);
    }
  }

  private async showLedgerKey(note: string, records: readonly RotationRecord[]): Promise<void> {
    const response = await this.post(JSON.stringify({ checkpoint: note, rotations: records }), ADD_LEDGER_KEY_PATH, 'application/json');
    const text = await readBounded(response, this.witness.name);
    if (response.status === 200) return;
    throw new WitnessRefusedError(this.witness.name, response.status, `witness ${this.witness.name} refused the rotation of the ledger key (${records.length} record(s)) with ${response.status}: ${text.trim().slice(0, 300)}${response.status === 404 && !text.startsWith('unknown log') ? ' (a witness without add-ledger-key: its operator adds the new verifier key with flashtrail witness add-log)' : ''}`);
  }

  private async post(body: string, path = 'add-checkpoint', contentType = 'text/plain; charset=utf-8'): Promise<Response> {
    try {
      return await fetch(new URL(path, this.witness.url.endsWith('/') ? this.witness.url : `${this.witness.url}/`), {
        method: 'POST',
        body,
        headers: { 'Content-Type': contentType },
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      throw new WitnessRefusedError(this.witness.name, null, `witness ${this.witness.name} at ${this.witness.url} could not be reached: ${(error as Error).message}`);
    }
  }

  /** The one signature line in the answer that is this witness's and verifies on the checkpoint. */
  private ownLine(note: string, text: string): string {
    const lines = text.split('\n').filter((l) => l !== '');
    for (const line of lines) {
      if (!line.startsWith(`— ${this.witness.key.name} `)) continue;
      try {
        if (verifyCosignatures(`${note}${line}\n`, [this.witness.key], nativeCrypto).length === 1) return `${line}\n`;
      } catch {
        // a line that does not verify is reported below
      }
    }
    throw new WitnessRefusedError(this.witness.name, 200, `witness ${this.witness.name} answered 200 without a valid cosignature by ${this.witness.key.name}+${this.witness.key.id}`);
  }
}

async function readBounded(response: Response, witness: string): Promise<string> {
  const length = Number(response.headers.get('content-length') ?? '0');
  if (length > MAX_RESPONSE_BYTES) throw new WitnessRefusedError(witness, response.status, `witness ${witness} answered with ${length} bytes`);
  const bytes = new Uint8Array(await response.arrayBuffer());
  if (bytes.length > MAX_RESPONSE_BYTES) throw new WitnessRefusedError(witness, response.status, `witness ${witness} answered with ${bytes.length} bytes`);
  return new TextDecoder().decode(bytes);
}

export interface CosignedCheckpoint {
  /** The ledger's note with every verified cosignature appended. */
  readonly note: string;
  readonly cosignedBy: readonly string[];
  readonly quorumMet: boolean;
}

/**
 * The witnesses of a policy that have a submission URL, asked in parallel. A checkpoint is "published" once
 * the policy's quorum cosigned it; below quorum it is still served (with what was collected), and logged.
 */
export class WitnessSet {
  private readonly clients: WitnessClient[];

  constructor(
    private readonly policy: WitnessPolicy,
    private readonly options: { readonly timeoutMs: number; readonly logger?: Logger },
  ) {
    this.clients = policy.witnesses.filter((w): w is PolicyWitness & { url: string } => w.url !== null).map((w) => new WitnessClient({ name: w.name, url: w.url, key: w.key }, options.timeoutMs));
  }

  get size(): number {
    return this.clients.length;
  }

  async cosign(note: string, size: number, prove: ConsistencyProver, rotations?: RotationProver): Promise<CosignedCheckpoint> {
    const results = await Promise.allSettled(this.clients.map((c) => c.cosign(note, size, prove, rotations)));
    const lines: string[] = [];
    const cosignedBy: string[] = [];
    results.forEach((r, i) => {
      const client = this.clients[i] as WitnessClient;
      if (r.status === 'fulfilled') {
        lines.push(r.value);
        cosignedBy.push(client.witness.name);
      } else {
        this.options.logger?.warn({ witness: client.witness.name, size, status: (r.reason as WitnessRefusedError).status ?? null }, (r.reason as Error).message);
      }
    });
    const met = quorumMet(this.policy, new Set(cosignedBy));
    if (met) this.options.logger?.info({ size, cosignedBy }, 'checkpoint published: witness quorum met');
    else this.options.logger?.warn({ size, cosignedBy }, 'checkpoint below witness quorum: verifiers holding the policy will refuse evidence against it');
    return { note: note + lines.join(''), cosignedBy, quorumMet: met };
  }
}
