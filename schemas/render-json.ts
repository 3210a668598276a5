/** Renders JSON Schema files from the zod schemas, for integrators in other languages (pure; the CLI writes them). */
import { z } from 'zod';
import { adminEventVersions, ledgerEventVersions, unitEventVersions, LedgerEventSchema, DsseEnvelopeSchema, SCHEMA_VERSIONS } from './index.ts';
import { ExportRecordV1Schema, ExportRecordV2Schema, ExportRecordV3Schema, ExportRecordV4Schema, ExportRecordV5Schema, InTotoStatementV1Schema, InTotoStatementV2Schema, InTotoStatementV3Schema, InTotoStatementV4Schema, InTotoStatementV5Schema } from './export.ts';
import { ProvenanceDocumentV1, ProvenanceDocumentV2, ProvenanceDocumentV3, ProvenanceStatementV3Schema } from './provenance.ts';

/** Where the rendered files live in the repository, relative to its root. */
export const JSON_SCHEMAS_DIR = 'schemas/json';

export function renderJsonSchemas(): Map<string, string> {
  const files = new Map<string, string>();
  const add = (name: string, schema: z.ZodType, description: string) => {
    const json = z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'input', unrepresentable: 'any' });
    const doc = { $id: `urn:flashtrail:schema:${name}`, title: name, description, ...json };
    files.set(`${name}.schema.json`, JSON.stringify(doc, null, 2) + '\n');
  };
  add('ledger-event', LedgerEventSchema, 'One ledger event: the RFC 8785 canonical JSON payload of a DSSE envelope');
  add('dsse-envelope', DsseEnvelopeSchema, 'DSSE envelope carrying one ledger event, signed with Ed25519');
  add('export-record', ExportRecordV2Schema, 'One line of a flashtrail.export.v2 traceability export (NDJSON, each line the RFC 8785 form of its record); docs/format.md §7');
  add('export-statement', InTotoStatementV2Schema, 'The in-toto Statement v1 closing a flashtrail.export.v2 export, with the traceability-export/v2 predicate; docs/format.md §7.6');
  add('export-record-v1', ExportRecordV1Schema, 'One line of a flashtrail.export.v1 traceability export (NDJSON), as ledgers wrote them before v2');
  add('export-statement-v1', InTotoStatementV1Schema, 'The in-toto Statement v1 closing a flashtrail.export.v1 export, with the traceability-export/v1 predicate');
  add('provenance', ProvenanceDocumentV2, 'A flashtrail.provenance.v2 document: one unit\'s signed events and the records they depend on, with C2SP tlog-proofs; docs/format.md §6');
  add('export-record-v3', ExportRecordV3Schema, 'One line of a flashtrail.export.v3 traceability export: v2 records, and a statement signed with Ed25519 and ML-DSA-44; docs/format.md §7.6.1');
  add('export-statement-v3', InTotoStatementV3Schema, 'The in-toto Statement v1 closing a flashtrail.export.v3 export, with the traceability-export/v3 predicate (the verifier page by SHA-256); docs/format.md §7.6.1');
  add('export-record-v4', ExportRecordV4Schema, 'One line of a flashtrail.export.v4 traceability export: v3 records, a history record (the unit history map root and its index log commitment) after the checkpoint, and each unit record with its map proof; docs/format.md §7.6.2');
  add('export-statement-v4', InTotoStatementV4Schema, 'The in-toto Statement v1 closing a flashtrail.export.v4 export, with the traceability-export/v4 predicate (members as v3); docs/format.md §7.6.2');
  add('export-record-v5', ExportRecordV5Schema, 'One line of a flashtrail.export.v5 traceability export: v4 records, and after the history record the firmware records (the proved answer of the selection\'s firmware digest, now and formerly, in parts); docs/format.md §7.6.3');
  add('export-statement-v5', InTotoStatementV5Schema, 'The in-toto Statement v1 closing a flashtrail.export.v5 export, with the traceability-export/v5 predicate (members as v4); docs/format.md §7.6.3');
  add('provenance-v3', ProvenanceDocumentV3, 'A flashtrail.provenance.v3 document: a v2 document signed by the ledger (its statement member); docs/format.md §6.7');
  add('provenance-statement-v3', ProvenanceStatementV3Schema, 'The in-toto Statement v1 a flashtrail.provenance.v3 document carries, signed by the ledger; docs/format.md §6.7');
  add('provenance-v1', ProvenanceDocumentV1, 'A flashtrail.provenance.v1 document, as ledgers served them before v2');
  // The current version of each type as data-<Type>; older versions, still valid, as data-<Type>.v<N>.
  for (const [name, versions] of Object.entries({ ...unitEventVersions, ...adminEventVersions, ...ledgerEventVersions })) {
    const current = SCHEMA_VERSIONS[name as keyof typeof SCHEMA_VERSIONS];
    for (const [version, schema] of Object.entries(versions as Record<string, z.ZodType>)) {
      const v = Number(version);
      add(v === current ? `data-${name}` : `data-${name}.v${v}`, schema, `data member of a ${name} event, schemaVersion ${v}${v === current ? ' (current)' : ''}`);
    }
  }
  return files;
}
