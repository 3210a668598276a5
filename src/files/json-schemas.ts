/** Writes the JSON Schema files rendered from the zod schemas (`flashtrail schemas generate`). */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderJsonSchemas } from '../../schemas/render-json.ts';

export function writeJsonSchemas(dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  const files = renderJsonSchemas();
  for (const [name, text] of files) writeFileSync(join(dir, name), text);
  return [...files.keys()];
}
