/** Renders JSON Schema files from the zod schemas, for integrators in other languages (pure; the CLI writes them). */
import { z } from 'zod';
import { adminEventVersions, ledgerEventVersions, unitEventVersions, LedgerEventSchema, DsseEnvelopeSchema, SCHEMA_VERSIONS } from './index.ts';
import { ExportRecordSchema, InTotoStatementSchema } from './export.ts';

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
  add('export-record', ExportRecordSchema, 'One line of a flashtrail.export.v1 traceability export (NDJSON)');
  add('export-statement', InTotoStatementSchema, 'The in-toto Statement v1 closing an export, with the flashtrail traceability-export/v1 predicate');
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
