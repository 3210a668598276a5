/**
 * `flashtrail monitor`: follows a ledger's checkpoints, the way a transparency-log monitor does. Each new
 * checkpoint must be signed by the pinned ledger key (and, with --policy, carry its witness quorum) and be
 * consistent with the last one this monitor saw, which it keeps durably in --state across runs. Findings are
 * JSON lines on stdout; the first one ends the run with exit 1 (a fork carries both signed notes as evidence).
 *
 * Each poll also audits the log's new entries (src/verify/log-audit.ts, docs/format.md §16): only those after the
 * last one audited, as --state says, up to the checkpoint's size. Every envelope, signature, stream chain, key life,
 * the ledger's key chains (so a rotated ledger is followed, each checkpoint verified under the key in force at its
 * size), the entries' RFC 6962 root against the checkpoint, its ML-DSA-44 line (the hybrid policy, §5.5, under the
 * ML-DSA-44 key in force at its size: the chain from --ledger-pq-key when given, else the one the log announces),
 * and the unit invariants (a serial on two units or in two
 * batches, an event after UnitScrapped or UnitShipped, a batch beyond its planned quantity, an image its release
 * does not name). Each finding is a JSON line with the leaf index as evidence; any finding makes the exit 1.
 *
 * With --map-key it also audits the index log (docs/format.md §15.3): the index checkpoint verifies under that
 * key, the index log's leaves give its root, and the unit history map rebuilt here from the log's entries gives
 * every committed map root (src/verify/map-audit.ts); a commitment that does not is a finding. That rebuild reads
 * the whole log on every check (map-audit.ts is not incremental).
 *
 * The keys pinned (the ledger's first Ed25519 and ML-DSA-44 keys) are kept in --state on the first run, so that
 * later runs need not repeat them and cannot change them: a pin that differs from the state's is a usage error,
 * since the audit kept there was checked against the state's keys.
 */
import { existsSync, readFileSync } from 'node:fs';
import { defineCommand } from '../command.ts';
import { UsageError } from '../errors.ts';
import { httpUrl, readTextFile, readTokenFile, wholeNumber } from '../input.ts';
import { readPolicy } from './verify.ts';

// Named, then exported: see defineCommand for why not `export default defineCommand(…)`.
const command = defineCommand({
  usage: ['--ledger URL [--ledger-key KEY|@FILE] [--ledger-pq-key KEY|@FILE] --state FILE [--map-key KEY|@FILE] [--policy FILE] [--token-file FILE] [--interval S] [--once] [--webhook URL]'],
  description: [
    "Polls GET /v1/checkpoint. Every checkpoint must verify under the pinned key (and the policy's witness quorum),",
    'and extend the last one seen (an RFC 6962 consistency proof from the ledger, verified here); the last one is',
    'kept in --state (written durably) so that a restart, or tomorrow\'s run, continues from it. Prints one JSON',
    'line per checkpoint verified ({"kind":"checkpoint",…}) and per finding ({"kind":"finding","code",…}); exits 1',
    'at the first finding, 0 after --once without one. Each poll also audits the log\'s new entries (docs/format.md §16):',
    'signatures, chains, key lives, the ledger key chains, the root, the checkpoint\'s ML-DSA-44 line, and the unit',
    'invariants; the audit state, and the keys pinned on the first run, are kept in --state (later runs may omit them;',
    '--ledger-key is needed on the first run, and a key other than the state\'s is refused).',
  ].join('\n'),
  options: {
    ledger: { type: 'string', value: 'URL', required: true, help: 'the ledger to follow' },
    'ledger-key': { type: 'string', value: 'KEY|@FILE', help: "the ledger's first Ed25519 verifier key (GET /v1/ledger/key before any rotation), or @file holding it; kept in --state" },
    'ledger-pq-key': { type: 'string', value: 'KEY|@FILE', help: "the ledger's first ML-DSA-44 verifier key (GET /v1/ledger/pq-key before any rotation): every checkpoint's ML-DSA-44 line verifies under it or a key it rotated to; kept in --state" },
    state: { type: 'string', value: 'FILE', required: true, help: 'where the keys pinned, the last checkpoint seen and the audit are kept (0600)' },
    policy: { type: 'string', value: 'FILE', help: 'a witness policy (C2SP tlog-policy) each checkpoint must satisfy' },
    'map-key': { type: 'string', value: 'KEY|@FILE', help: "the index log's verifier key (GET /v1/unit-map/key): rebuild the unit history map and compare every committed root; kept in --state" },
    'token-file': { type: 'string', value: 'FILE', help: 'auditor bearer token (default FLASHTRAIL_TOKEN)' },
    interval: { type: 'string', value: 'S', help: 'seconds between polls (default 60)' },
    once: { type: 'boolean', help: 'check the current checkpoint once and exit' },
    webhook: { type: 'string', value: 'URL', help: 'also POST each finding as JSON to URL (retried with backoff: 5 tries over ~15 s)' },
  },
  environment: ['FLASHTRAIL_TOKEN'],
  async run({ values }) {
    const url = httpUrl(values.ledger as string, '--ledger');
    const token = values['token-file'] !== undefined ? readTokenFile(values['token-file']) : process.env['FLASHTRAIL_TOKEN'];
    if (!token) throw new UsageError('the monitor needs a token: --token-file FILE or FLASHTRAIL_TOKEN');
    const intervalMs = wholeNumber(values.interval, '--interval', 60, 1, 86_400) * 1000;
    const keyOption = (name: 'ledger-key' | 'ledger-pq-key' | 'map-key', what: string): string | null => {
      const v = values[name] as string | undefined;
      return v === undefined ? null : (v.startsWith('@') ? readTextFile(v.slice(1), what) : v).trim();
    };
    const [{ parseVerifierKey }, { checkCheckpoint, verifyCheckpointConsistency, verifyConsistency, VerificationError }, { checkWitnesses }, { nativeCrypto }, { LedgerClient }, { writeFileDurable }, { fromBase64 }] = await Promise.all([
      import('../../tlog/note.ts'),
      import('../../verify/index.ts'),
      import('../../verify/witnesses.ts'),
      import('../../native/crypto.ts'),
      import('../../client/ledger-client.ts'),
      import('../../files/durable.ts'),
      import('../../crypto/encoding.ts'),
    ]);
    const { parseMlDsaVerifierKey } = await import('../../tlog/ml-dsa-note.ts');
    const stateFile = values.state as string;
    // The state: the keys pinned, the last checkpoint verified and the log audit (docs/format.md §16.3). A state
    // written before the audit existed ({"checkpoint": …} alone) is continued with an audit from leaf 0.
    let kept: { keys?: { ledger?: string; mlDsa?: string; map?: string }; checkpoint?: string; audit?: unknown } = {};
    try {
      if (existsSync(stateFile)) kept = JSON.parse(readFileSync(stateFile, 'utf8')) as typeof kept;
    } catch (error) {
      throw new UsageError(`${stateFile} is not a monitor state file: ${(error as Error).message}`);
    }
    /** A pin from the command line or the state; both given, they must be the same key. */
    const pin = (option: string, given: string | null, inState: string | undefined): string | null => {
      if (given !== null && inState !== undefined && given !== inState) {
        throw new UsageError(`--${option} ${given.slice(0, 40)}… is not the key ${stateFile} pins (${inState.slice(0, 40)}…): the audit kept there was checked against that key; use another --state to pin another key`);
      }
      return given ?? inState ?? null;
    };
    const ledgerKeyText = pin('ledger-key', keyOption('ledger-key', 'the ledger key file'), kept.keys?.ledger);
    if (ledgerKeyText === null) throw new UsageError(`the monitor needs the ledger's first key: --ledger-key KEY|@FILE (${stateFile} does not pin one yet)`);
    const mlDsaKeyText = pin('ledger-pq-key', keyOption('ledger-pq-key', 'the ledger ML-DSA-44 key file'), kept.keys?.mlDsa);
    const key = parseVerifierKey(ledgerKeyText);
    let mlDsaKey: ReturnType<typeof parseMlDsaVerifierKey> | null = null;
    try {
      mlDsaKey = mlDsaKeyText === null ? null : parseMlDsaVerifierKey(mlDsaKeyText);
    } catch (error) {
      throw new UsageError(`--ledger-pq-key is not an ML-DSA-44 verifier key: ${(error as Error).message}`);
    }
    if (mlDsaKey && mlDsaKey.name !== key.name) throw new UsageError(`--ledger-pq-key names ${mlDsaKey.name}, --ledger-key ${key.name}: both are the keys of one log, under its origin`);
    const mapKeyText = pin('map-key', keyOption('map-key', 'the index log key file'), kept.keys?.map);
    const mapKey = mapKeyText === null ? null : parseVerifierKey(mapKeyText);
    const [{ auditMapCommitments }, { parseCheckpointBody }, { verifyNote }] = await Promise.all([import('../../verify/map-audit.ts'), import('../../tlog/checkpoint.ts'), import('../../tlog/note.ts')]);
    /** The index log audit: one finding line per commitment the rebuilt map contradicts; true when there is none. */
    const auditMap = async (): Promise<boolean> => {
      if (!mapKey) return true;
      const indexNote = await client.getText('/v1/unit-map/checkpoint');
      let index;
      try {
        index = parseCheckpointBody(verifyNote(indexNote, [mapKey], nativeCrypto).text);
      } catch (error) {
        emit({ kind: 'finding', code: 'CHECKPOINT_SIGNATURE_ERROR', step: 'unit-map', message: `the index log checkpoint does not verify under ${mapKey.name}: ${(error as Error).message}`, evidence: { indexCheckpoint: indexNote } });
        return false;
      }
      const leaves: string[] = [];
      while (leaves.length < index.size) {
        const page = await client.get<{ leaves: string[] }>(`/v1/unit-map/leaves?from=${leaves.length}&limit=1000`);
        if (page.leaves.length === 0) break;
        leaves.push(...page.leaves);
      }
      async function* entries(): AsyncGenerator<Uint8Array> {
        let after: string | null = null;
        for (;;) {
          const page: { entries: string[]; next: string | null } = await client.get(`/v1/log/entries?limit=1000${after !== null ? `&after=${after}` : ''}`);
          for (const e of page.entries) yield fromBase64(e);
          if (page.next === null || page.entries.length === 0) return;
          after = page.next;
        }
      }
      const report = await auditMapCommitments(leaves, index, entries(), nativeCrypto);
      for (const f of report.findings) emit({ kind: 'finding', step: 'unit-map', ...f, evidence: { indexCheckpoint: indexNote } });
      if (report.findings.length === 0) emit({ kind: 'unit-map', origin: index.origin, size: index.size, commitments: report.commitments, entries: report.entries });
      return report.findings.length === 0;
    };
    const policy = readPolicy(values.policy);
    const client = new LedgerClient(url, token);
    const webhook = values.webhook === undefined ? null : httpUrl(values.webhook as string, '--webhook');
    const deliveries: Promise<void>[] = [];
    /** One finding to the webhook: 5 tries, waiting 1, 2, 4, 8 s between them; a receiver that never answers 2xx is reported on stderr. */
    const deliver = async (finding: object): Promise<void> => {
      for (let attempt = 0; ; attempt++) {
        try {
          const r = await fetch(webhook as string, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(finding), signal: AbortSignal.timeout(10_000) });
          if (r.ok) return;
          if (attempt >= 4) throw new Error(`HTTP ${r.status}`);
        } catch (error) {
          if (attempt >= 4) {
            console.error(`flashtrail monitor: the webhook did not take a finding after 5 tries: ${(error as Error).message}`);
            return;
          }
        }
        await new Promise((r) => setTimeout(r, 1000 * 2 ** attempt));
      }
    };
    const emit = (line: { readonly kind: string; readonly [member: string]: unknown }) => {
      console.log(JSON.stringify(line));
      if (webhook && line.kind === 'finding') deliveries.push(deliver(line));
    };
    const { LogAudit } = await import('../../verify/log-audit.ts');
    let last: string | null = kept.checkpoint ?? null;
    let audit;
    try {
      audit = kept.audit === undefined ? LogAudit.start(key, nativeCrypto, mlDsaKey) : LogAudit.fromJSON(kept.audit, key, nativeCrypto, mlDsaKey);
    } catch (error) {
      if (!(error instanceof TypeError)) throw error;
      throw new UsageError(`${stateFile}: ${error.message}`);
    }
    const keys = { ledger: ledgerKeyText, ...(mlDsaKeyText !== null ? { mlDsa: mlDsaKeyText } : {}), ...(mapKeyText !== null ? { map: mapKeyText } : {}) };
    const save = () => writeFileDurable(stateFile, JSON.stringify({ keys, ...(last !== null ? { checkpoint: last } : {}), audit: audit.toJSON() }) + '\n', { mode: 0o600 });

    const check = async (): Promise<boolean> => {
      const note = await client.getText('/v1/checkpoint');
      try {
        const size = parseCheckpointBody(note.slice(0, note.indexOf('\n\n') + 1)).size;
        // Only the entries after the last audited one, and never past this checkpoint's tree: pages of at most s − read.
        const findings = [];
        while (audit.size < size) {
          const cursor = audit.cursor;
          const page = await client.get<{ entries: string[]; next: string | null }>(`/v1/log/entries?limit=${Math.min(1000, size - audit.size)}${cursor !== null ? `&after=${cursor}` : ''}`);
          if (page.entries.length === 0) break;
          findings.push(...audit.observePage(page.entries.map((e) => fromBase64(e)), page.next));
        }
        for (const f of findings) emit({ kind: 'finding', ...f });
        const checkpoint = audit.checkCheckpoint(note);
        // Signed by the key in force at its size (a rotated ledger is followed by the audit's chain of keys).
        const signer = audit.ledgerKeyAt(checkpoint.size);
        const witnesses = policy ? checkWitnesses(note, policy, signer, nativeCrypto) : undefined;
        let from: number | null = null;
        if (last !== null) {
          const olderSize = parseCheckpointBody(last.slice(0, last.indexOf('\n\n') + 1)).size;
          from = olderSize;
          const proof = checkpoint.size > olderSize ? (await client.get<{ proof: string[] }>(`/v1/proofs/consistency?from=${olderSize}&to=${checkpoint.size}`)).proof.map((p) => fromBase64(p)) : [];
          const olderSigner = olderSize <= audit.size ? audit.ledgerKeyAt(olderSize) : signer;
          if (olderSigner.id === signer.id) verifyCheckpointConsistency(last, note, proof, signer, nativeCrypto);
          else {
            // Across a rotation each note verifies under its own key; the trees' consistency is the same proof.
            const older = checkCheckpoint(last, olderSigner, nativeCrypto);
            if (!verifyConsistency(older.size, checkpoint.size, older.root, checkpoint.root, proof, nativeCrypto)) {
              throw new VerificationError('CONSISTENCY_PROOF_ERROR', 'consistency', `tree ${checkpoint.size} does not extend tree ${older.size}`, {}, { olderCheckpoint: last, newerCheckpoint: note });
            }
          }
        }
        emit({ kind: 'checkpoint', origin: checkpoint.origin, size: checkpoint.size, signatures: checkpoint.signatures, ...(witnesses ? { cosignedBy: witnesses.cosignedBy.map((c) => c.witness) } : {}), ...(from !== null ? { consistentWith: from } : {}), audited: audit.size, ledgerKey: signer.id, ...(checkpoint.signatures.includes('ML-DSA-44') ? { mlDsaKey: audit.mlDsaKeyAt(checkpoint.size)?.id } : {}) });
        // Kept only once verified: a bad checkpoint never becomes the reference for the next.
        last = note;
        save();
        if (findings.length > 0) return false;
        return await auditMap();
      } catch (error) {
        if (!(error instanceof VerificationError)) throw error;
        emit({ kind: 'finding', code: error.code, step: error.step, message: error.message, ...(error.evidence ? { evidence: error.evidence } : {}) });
        return false;
      }
    };

    for (;;) {
      const ok = await check();
      await Promise.all(deliveries.splice(0));
      if (!ok) return 1;
      if (values.once) return 0;
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  },
});

export default command;
