/**
 * `flashtrail station release`: the ReleaseApproved (v2) data of a release, from one of the shipped recipes
 * and the image files the build server produced: each image's SHA-256, SHA-512 and size computed from its
 * bytes, the ELF SHA-256 from the ELF file, the template digests from the template files. The result is what
 * an administrator reviews and submits (`flashtrail admin submit ReleaseApproved release.json`).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ReleaseApprovedV2 } from '../schemas/admin-events.ts';
import { esp32DevelopmentRecipe, esp32s3HostSecureRecipe, lpc55s69Sb21Recipe } from '../src/domain/recipes.ts';
import type { Recipe } from '../schemas/index.ts';
import { StationConfigError } from './config.ts';

export const SHIPPED_RECIPES = ['esp32s3-sbv2-fe-host', 'esp32-dev', 'lpc55s69-sb21'] as const;
export type ShippedRecipe = (typeof SHIPPED_RECIPES)[number];

export interface ReleaseInput {
  readonly recipe: ShippedRecipe;
  readonly releaseId: string;
  readonly productSku: string;
  readonly version: string;
  /** name → file and flash offset */
  readonly images: readonly { name: string; file: string; offset: number; elf?: string; deliveredIn?: string }[];
  /** Hex, or the 32-byte digest file espsecure digest-sbv2-public-key writes. */
  readonly secureBootKeyDigest?: string;
  readonly template?: { id: string; file: string };
  readonly sbomFile?: string;
}

const digest = (algorithm: 'sha256' | 'sha512', data: Uint8Array) => createHash(algorithm).update(data).digest('hex');

function keyDigest(value: string | undefined): string {
  if (value === undefined) throw new StationConfigError('--secure-boot-key-digest is needed for this recipe (hex, or @file written by espsecure digest-sbv2-public-key)');
  if (value.startsWith('@')) {
    const bytes = readFileSync(value.slice(1));
    if (bytes.length !== 32) throw new StationConfigError(`${value.slice(1)} is ${bytes.length} bytes, not a 32-byte SHA-256 digest`);
    return Buffer.from(bytes).toString('hex');
  }
  if (!/^[0-9a-f]{64}$/.test(value)) throw new StationConfigError('--secure-boot-key-digest: 64 lowercase hex characters, or @file');
  return value;
}

export function buildRelease(input: ReleaseInput): unknown {
  const template = input.template ? { templateId: input.template.id, templateSha256: digest('sha256', readFileSync(input.template.file)) } : null;
  const needsTemplate = (): { templateId: string; templateSha256: string } => {
    if (!template) throw new StationConfigError(`--template ID=FILE is needed for recipe ${input.recipe} (its write-nvs step renders it)`);
    return template;
  };
  let recipe: Recipe;
  switch (input.recipe) {
    case 'esp32s3-sbv2-fe-host':
      recipe = esp32s3HostSecureRecipe({ secureBootKeyDigest: keyDigest(input.secureBootKeyDigest), ...needsTemplate() });
      break;
    case 'esp32-dev':
      recipe = esp32DevelopmentRecipe(needsTemplate());
      break;
    case 'lpc55s69-sb21':
      recipe = lpc55s69Sb21Recipe();
      break;
  }
  const images = input.images.map((i) => {
    const data = readFileSync(i.file);
    return {
      name: i.name,
      offset: i.offset,
      sha256: digest('sha256', data),
      sha512: digest('sha512', data),
      sizeBytes: data.length,
      ...(i.elf ? { elfSha256: digest('sha256', readFileSync(i.elf)) } : {}),
      ...(i.deliveredIn ? { deliveredIn: i.deliveredIn } : {}),
    };
  });
  const data = {
    releaseId: input.releaseId,
    productSku: input.productSku,
    version: input.version,
    images,
    recipe,
    ...(input.sbomFile ? { sbomSha256: digest('sha256', readFileSync(input.sbomFile)) } : {}),
  };
  const parsed = ReleaseApprovedV2.safeParse(data);
  if (!parsed.success) throw new StationConfigError(`the release is not valid: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  return parsed.data;
}
