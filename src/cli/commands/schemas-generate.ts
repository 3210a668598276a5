/** `flashtrail schemas generate`: the JSON Schema files in schemas/json, from the zod schemas. */
import { join } from 'node:path';
import { defineCommand } from '../command.ts';
import { packageInfo } from '../package-info.ts';
import { JSON_SCHEMAS_DIR } from '../../../schemas/render-json.ts';
import { writeCfxJsonSchemas, writeJsonSchemas } from '../../files/json-schemas.ts';
import { CFX_JSON_SCHEMAS_DIR } from '../../cfx/json-schema.ts';

// Named, then exported: see defineCommand for why not `export default defineCommand(…)`.
const command = defineCommand({
  usage: [''],
  description: 'For integrators in other languages. A development command: it writes into the source tree of this checkout.',
  options: {},
  run() {
    // The source tree's schemas/json (relative to the package root), also when this runs compiled from dist/.
    const dir = join(packageInfo().root, JSON_SCHEMAS_DIR);
    const written = writeJsonSchemas(dir);
    console.log(`wrote ${written.length} JSON Schema files to ${dir}`);
    const cfxDir = join(packageInfo().root, CFX_JSON_SCHEMAS_DIR);
    const cfx = writeCfxJsonSchemas(cfxDir);
    console.log(`wrote ${cfx.length} JSON Schema file to ${cfxDir} (the CFX output)`);
    return 0;
  },
});

export default command;
