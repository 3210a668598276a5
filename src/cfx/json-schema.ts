/** The JSON Schema of flashtrail's CFX output, for MES integrators (pure; `flashtrail schemas generate` writes it). */
import { z } from 'zod';
import { CfxEnvelopeSchema } from './schema.ts';

/** Where the rendered file lives in the repository, relative to its root. */
export const CFX_JSON_SCHEMAS_DIR = 'schemas/cfx';

export function renderCfxJsonSchemas(): Map<string, string> {
  const json = z.toJSONSchema(CfxEnvelopeSchema, { target: 'draft-2020-12', io: 'input' });
  const doc = {
    $id: 'urn:flashtrail:schema:cfx-envelope',
    title: 'cfx-envelope',
    description:
      'A CFX 2.1 envelope (IPC-2591) as flashtrail publishes it on the plant broker, in the CFX SDK\'s serialisation: members in the order the SDK writes them, nulls written, $type first in MessageBody and in polymorphic members. CFX is unauthenticated: the evidence is the ledger\'s (the flashtrail-* AMQP application properties and the flashtrail.* process parameters name the signed event).',
    ...json,
  };
  return new Map([['cfx-envelope.schema.json', JSON.stringify(doc, null, 2) + '\n']]);
}
