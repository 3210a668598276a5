/**
 * The independent verifiers in test/interop are written for Debian's Python and its packaged modules only
 * (python3-cryptography, python3-cbor2), never a virtualenv: /usr/bin/python3, not whichever python3 is first on
 * PATH (a pyenv one lacks them). One probe for every test that runs them, so that each skips with the same reason.
 */
import { spawnSync } from 'node:child_process';

export const PYTHON = '/usr/bin/python3';

const DEBIAN_PACKAGE: Record<string, string> = { cryptography: 'python3-cryptography', cbor2: 'python3-cbor2' };

/** Why PYTHON cannot run a verifier needing these modules (with the apt-get line that fixes it), or null. */
export function missingPython(...modules: string[]): string | null {
  const packages = modules.map((m) => DEBIAN_PACKAGE[m] ?? `python3-${m}`);
  const probe = spawnSync(PYTHON, ['-c', `import ${modules.join(', ')}`], { stdio: 'ignore' });
  if (probe.error) return `${PYTHON} is not installed (apt-get install python3 ${packages.join(' ')})`;
  if (probe.status !== 0) return `${PYTHON} lacks ${modules.join(' or ')} (apt-get install ${packages.join(' ')})`;
  return null;
}
