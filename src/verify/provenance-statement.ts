/**
 * The ledger's signature on a provenance document (flashtrail.provenance.v3, docs/format.md §6.7): the document's
 * `statement` member is a DSSE envelope, signed like an export statement (Ed25519, then ML-DSA-44: §7.6.1), of an
 * in-toto Statement whose one subject is the unit (name: the serial) with the digest
 *
 *     SHA-256( JCS( the document without its `statement` member ) )
 *
 * so that every other member, present or to come (a `history` completeness proof), is covered, and nothing can be
 * removed from or added to the document without the ledger key. The predicate repeats what the ledger vouches
 * for in words a reader can check: format, origin, serial, the checkpoint, how many entries and unit events.
 */
import type { DsseEnvelope } from '../crypto/dsse.ts';
import { canonicalBytes } from '../crypto/jcs.ts';
import { fromBase64, fromUtf8, toHex } from '../crypto/encoding.ts';
import type { CryptoBackend } from '../crypto/backend.ts';
import type { Checkpoint } from '../tlog/checkpoint.ts';
import type { NoteKey } from '../tlog/note.ts';
import { IN_TOTO_STATEMENT_TYPE } from '../../schemas/export.ts';
import { PROVENANCE_FORMAT_V3, PROVENANCE_PREDICATE_TYPE_V3, ProvenanceStatementV3Schema } from '../../schemas/provenance.ts';
import { checkCanonical, parseJsonText, pathText } from './records.ts';
import { checkStatementSignatures } from './statement-signatures.ts';
import type { SignatureAlgorithm, SignaturePolicy } from './signature-policy.ts';
import { VerificationError } from './errors.ts';

export { PROVENANCE_FORMAT_V3, PROVENANCE_PREDICATE_TYPE_V3 };

export interface ProvenanceStatement {
  readonly _type: typeof IN_TOTO_STATEMENT_TYPE;
  readonly subject: readonly [{ readonly name: string; readonly digest: { readonly sha256: string } }];
  readonly predicateType: typeof PROVENANCE_PREDICATE_TYPE_V3;
  readonly predicate: {
    readonly format: typeof PROVENANCE_FORMAT_V3;
    readonly origin: string;
    readonly serial: string;
    readonly checkpoint: { readonly size: number; readonly rootHash: string };
    readonly entries: number;
    readonly unitEvents: number;
  };
}

/** What the statement digests: the document, every member but `statement`, as its RFC 8785 bytes. */
export function provenanceContentSha256(document: Readonly<Record<string, unknown>>, crypto: CryptoBackend): string {
  const rest = Object.fromEntries(Object.entries(document).filter(([name]) => name !== 'statement'));
  return toHex(crypto.sha256(canonicalBytes(rest)));
}

/**
 * The statement a ledger signs over a document (without its statement member). `contentSha256`: the digest, when
 * the caller already hashed the document's RFC 8785 bytes (the ledger, which serves those bytes).
 */
export function provenanceStatementOf(document: { readonly serial: string; readonly entries: readonly { readonly role: string }[] } & Readonly<Record<string, unknown>>, origin: string, checkpoint: Checkpoint, crypto: CryptoBackend, contentSha256?: string): ProvenanceStatement {
  return {
    _type: IN_TOTO_STATEMENT_TYPE,
    subject: [{ name: document.serial, digest: { sha256: contentSha256 ?? provenanceContentSha256(document, crypto) } }],
    predicateType: PROVENANCE_PREDICATE_TYPE_V3,
    predicate: {
      format: PROVENANCE_FORMAT_V3,
      origin,
      serial: document.serial,
      checkpoint: { size: checkpoint.size, rootHash: toHex(checkpoint.root) },
      entries: document.entries.length,
      unitEvents: document.entries.filter((e) => e.role === 'unit').length,
    },
  };
}

/**
 * The statement step of a v3 document, after every other step: its signatures (STATEMENT_SIGNATURE_ERROR,
 * STATEMENT_PQ_SIGNATURE_ERROR), its payload (FORMAT_ERROR, PAYLOAD_NOT_CANONICAL), the subject is the serial
 * (SUBJECT_MISMATCH), the digest and counts are those of the document (CONTENT_DIGEST_ERROR), the predicate's
 * origin and checkpoint the document's (PREDICATE_MISMATCH).
 */
export function checkProvenanceStatement(
  document: Readonly<Record<string, unknown>> & { readonly serial: string; readonly entries: readonly { readonly role: string }[]; readonly statement: DsseEnvelope },
  checkpoint: Checkpoint,
  ledgerKey: NoteKey,
  policy: SignaturePolicy | undefined,
  crypto: CryptoBackend,
): { signatures: SignatureAlgorithm[]; sha256: string } {
  const envelope = document.statement;
  const at = (field: string) => ({ field: `statement${field ? `.${field}` : ''}` });
  const signatures = checkStatementSignatures(envelope, ledgerKey, policy, true, { field: 'statement' }, crypto);
  let text: string;
  try {
    text = fromUtf8(fromBase64(envelope.payload));
  } catch {
    throw new VerificationError('FORMAT_ERROR', 'statement', 'the statement payload is not canonical base64 of UTF-8', at('payload'));
  }
  const value = parseJsonText(text, 'the statement payload', at('payload'), 'statement');
  try {
    checkCanonical(value, text, 'the statement payload', at('payload'));
  } catch (error) {
    if (error instanceof VerificationError) throw new VerificationError('PAYLOAD_NOT_CANONICAL', 'statement', error.message, error.location);
    throw error;
  }
  const parsed = ProvenanceStatementV3Schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue ? pathText(issue.path) : '';
    throw new VerificationError('FORMAT_ERROR', 'statement', `the statement is not a ${PROVENANCE_FORMAT_V3} in-toto Statement v1: ${field || '(root)'}: ${issue?.message ?? 'invalid'}`, at(field));
  }
  const statement = parsed.data;
  const [subject] = statement.subject;
  const p = statement.predicate;
  if (subject.name !== document.serial || p.serial !== document.serial) {
    throw new VerificationError('SUBJECT_MISMATCH', 'statement', `the statement is about unit ${subject.name}, the document about ${document.serial}`, at('subject[0].name'));
  }
  const sha256 = provenanceContentSha256(document, crypto);
  const unitEvents = document.entries.filter((e) => e.role === 'unit').length;
  if (subject.digest.sha256 !== sha256 || p.entries !== document.entries.length || p.unitEvents !== unitEvents) {
    throw new VerificationError(
      'CONTENT_DIGEST_ERROR',
      'statement',
      `the document hashes to ${sha256.slice(0, 16)}… with ${document.entries.length} entries and ${unitEvents} unit events; the ledger signed ${subject.digest.sha256.slice(0, 16)}… with ${p.entries} entries and ${p.unitEvents} unit events: entries were changed, added or removed`,
      at('subject[0].digest.sha256'),
    );
  }
  if (p.origin !== checkpoint.origin) throw new VerificationError('PREDICATE_MISMATCH', 'statement', `the statement names origin ${p.origin}, the checkpoint ${checkpoint.origin}`, at('predicate.origin'));
  if (p.checkpoint.size !== checkpoint.size || p.checkpoint.rootHash !== toHex(checkpoint.root)) {
    throw new VerificationError('PREDICATE_MISMATCH', 'statement', `the statement names tree ${p.checkpoint.size}, the document's checkpoint is tree ${checkpoint.size}`, at('predicate.checkpoint'));
  }
  return { signatures, sha256 };
}
