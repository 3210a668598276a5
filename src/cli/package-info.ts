/** Where the installed package lives and its version, from package.json, whether run from src/ or dist/. */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

interface PackageInfo {
  readonly root: string;
  readonly version: string;
}

let cached: PackageInfo | undefined;

export function packageInfo(): PackageInfo {
  if (cached) return cached;
  // src/cli/ in a checkout, dist/src/cli/ when compiled: walk up to the package.json named flashtrail.
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const json = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (json.name === 'flashtrail') return (cached = { root: dir, version: json.version ?? '0.0.0' });
    }
    if (dirname(dir) === dir) throw new Error(`no package.json of flashtrail above ${fileURLToPath(import.meta.url)}`);
  }
}
