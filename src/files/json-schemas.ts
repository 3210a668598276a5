/** Writes the JSON Schema files rendered from the zod schemas (`flashtrail schemas generate`). */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderJsonSchemas } from '../../schemas/render-json.ts';
import { renderCfxJsonSchemas } from '../cfx/json-schema.ts';

export function writeJsonSchemas(dir: string): string[] {
  return writeAll(dir, renderJsonSchemas());
}

/** The CFX output's schema (schemas/cfx). */
export function writeCfxJsonSchemas(dir: string): string[] {
  return writeAll(dir, renderCfxJsonSchemas());
}

function writeAll(dir: string, files: Map<string, string>): string[] {
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of files) writeFileSync(join(dir, name), text);
  return [...files.keys()];
}
