/**
 * A release as a recipe: the images it consists of, and the ordered steps every unit of it must go through
 * on the line. Part of `ReleaseApproved` (version 2), so the administrator signs the sequence with the
 * hashes, and the unit decider (src/domain/unit.ts) enforces it for every unit of a batch of that release.
 *
 * Step kinds (what a step does to the device):
 *   identity        read the chip's identity (MAC, chip id / UID)                read-only
 *   burn            burn keys and eFuses (irreversible)                          writes OTP
 *   write           write images to flash at their offsets                       writes flash
 *   verify          check what the device holds or runs against the release      read-only
 *   provision       write unit-specific data (NVS, certificates) from a template writes flash
 *   security_state  read the security configuration back from the device       read-only
 *   lock            the last irreversible step: after it nothing is written      writes OTP
 *
 * The rules every recipe must satisfy are checked here, so a recipe the ledger accepts is one the decider
 * can enforce: unique names, images that exist, every written image verified before the lock, nothing that
 * writes after the lock, and every burned eFuse read back from the device before the lock.
 */
import { z } from 'zod';
import { Identifier, LongText, Sha256Hex, ShortText } from './common.ts';

export const StepId = z.string().regex(/^[a-z0-9][a-z0-9-]{0,47}$/, 'lowercase letters, digits and -, 1-48 characters');
export const ImageName = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,47}$/, 'lowercase letters, digits and . _ -, 1-48 characters');
export const Sha512Hex = z.string().regex(/^[0-9a-f]{128}$/, 'lowercase hex SHA-512 digest');
/** eFuse, CMPA/CFPA field or property names as the vendor tools spell them: SPI_BOOT_CRYPT_CNT, Security State. */
export const FieldName = z.string().regex(/^[A-Za-z][A-Za-z0-9_. ]{0,63}$/, 'a field name: letters, digits, _ . and space, 1-64 characters');
/** eFuse values as espefuse takes them (1, 0x7, 7); bounded like every value a tool is given. */
export const FuseValue = z.string().regex(/^(0x[0-9a-fA-F]{1,16}|[0-9]{1,20})$/, 'a decimal or 0x-hex value, at most 64 bits');

export const ReleaseImage = z.strictObject({
  name: ImageName.describe('e.g. bootloader, partition-table, app, nvs, firmware-sb'),
  offset: z.int().nonnegative().max(0xffff_ffff).describe('flash (or memory) address the image is written to'),
  sha256: Sha256Hex.describe('SHA-256 of the exact bytes written (the .bin, signed and encrypted as flashed)'),
  sha512: Sha512Hex.describe('SHA-512 of the same bytes'),
  sizeBytes: z.int().positive().max(0x7fff_ffff),
  elfSha256: Sha256Hex.optional().describe('SHA-256 of the ELF the image was built from, where the toolchain has one (ESP-IDF prints its first characters at boot)'),
  deliveredIn: ImageName.optional().describe('the image reaches the device inside this other image (an SB2.1 container the ROM unpacks), not written by itself'),
});

export const Fuse = z.strictObject({ name: FieldName, value: FuseValue });
export const KeyBurn = z.strictObject({
  block: FieldName.describe('key block or key store slot, e.g. BLOCK_KEY1, KEYSTORE_SBKEK'),
  purpose: FieldName.describe('e.g. XTS_AES_128_KEY, SECURE_BOOT_DIGEST0, SBKEK'),
  digest: Sha256Hex.optional().describe('what the block must read back as (a secure-boot public key digest); absent for secret keys'),
});
export const Expectation = z.strictObject({
  field: FieldName,
  equals: z.union([z.string().max(200), z.number(), z.boolean()]).describe('the value the device must report (hex digests: lowercase, no spaces)'),
});

const common = { id: StepId, description: LongText.optional() };
export const IdentityStep = z.strictObject({ ...common, kind: z.literal('identity') });
export const BurnStep = z.strictObject({
  ...common,
  kind: z.literal('burn'),
  fuses: z.array(Fuse).max(64),
  keys: z.array(KeyBurn).max(8),
});
export const WriteStep = z.strictObject({ ...common, kind: z.literal('write'), images: z.array(ImageName).min(1).max(16) });
export const VerificationMethod = z.enum(['readback_sha256', 'tool_compare', 'boot_log_elf_sha256']).describe(
  'readback_sha256: the station reads the image back and hashes it; tool_compare: the flash tool compares flash with the release file (esptool verify-flash); boot_log_elf_sha256: the ELF SHA-256 prefix the application prints at boot (ESP-IDF), against the release ELF hash',
);
export const VerifyStep = z.strictObject({ ...common, kind: z.literal('verify'), method: VerificationMethod, images: z.array(ImageName).min(1).max(16) });
export const ProvisionStep = z.strictObject({ ...common, kind: z.literal('provision'), templateId: Identifier, templateSha256: Sha256Hex });
export const SecurityStateStep = z.strictObject({ ...common, kind: z.literal('security_state'), expect: z.array(Expectation).max(64) });
export const LockStep = z.strictObject({
  ...common,
  kind: z.literal('lock'),
  fuses: z.array(Fuse).max(64),
  images: z.array(ImageName).max(4).describe('images the lock itself writes (e.g. a sealed CMPA page)'),
});

export const RecipeStep = z.discriminatedUnion('kind', [IdentityStep, BurnStep, WriteStep, VerifyStep, ProvisionStep, SecurityStateStep, LockStep]);
export const STEP_KINDS = ['identity', 'burn', 'write', 'verify', 'provision', 'security_state', 'lock'] as const;
export type StepKind = (typeof STEP_KINDS)[number];

export const RecipeLimits = z.strictObject({
  maxAttempts: z.int().min(1).max(16).describe('passes a unit may make (first pass + reworks) before it must be scrapped'),
  maxFailuresPerAttempt: z.int().min(1).max(64).describe('failed tries within one pass before the unit must be reworked or scrapped'),
});

const RecipeShape = z.strictObject({
  id: Identifier.describe('the step sequence, e.g. esp32s3-sbv2-fe-host'),
  target: ShortText.describe('the chip family, e.g. esp32s3, esp32, lpc55s69'),
  steps: z.array(RecipeStep).min(1).max(64),
  limits: RecipeLimits,
});

type RecipeInput = z.infer<typeof RecipeShape>;
type Issue = { message: string; path: (string | number)[] };

/** The rules of a recipe, given its images; empty when it is sound. Shared by the schema and the tests. */
export function recipeProblems(recipe: RecipeInput, images: readonly { name: string; elfSha256?: string | undefined; deliveredIn?: string | undefined }[]): Issue[] {
  const issues: Issue[] = [];
  const byName = new Map(images.map((i) => [i.name, i]));
  const contents = (container: string) => images.filter((i) => i.deliveredIn === container).map((i) => i.name);
  images.forEach((image, i) => {
    const c = image.deliveredIn;
    if (c !== undefined && (!byName.has(c) || byName.get(c)?.deliveredIn !== undefined)) issues.push({ message: `image ${image.name} is delivered in ${c}, which is not a top-level image of the release`, path: ['images', i, 'deliveredIn'] });
  });
  const at = (i: number, ...rest: (string | number)[]) => ['recipe', 'steps', i, ...rest];
  const seen = new Set<string>();
  const lockIndex = recipe.steps.findIndex((s) => s.kind === 'lock');
  if (recipe.steps.filter((s) => s.kind === 'lock').length > 1) issues.push({ message: 'a recipe has at most one lock step', path: ['recipe', 'steps'] });
  const written = new Map<string, number>();
  /** Images the lock step writes (a sealed CMPA page): they may be read back after it. */
  const lockWritten = new Set<string>();
  const verified = new Set<string>();
  recipe.steps.forEach((step, i) => {
    if (seen.has(step.id)) issues.push({ message: `step id ${step.id} is used twice`, path: at(i, 'id') });
    seen.add(step.id);
    const names = step.kind === 'write' || step.kind === 'verify' || step.kind === 'lock' ? step.images : [];
    names.forEach((name, j) => {
      if (!byName.has(name)) issues.push({ message: `image ${name} is not an image of the release`, path: at(i, 'images', j) });
    });
    if (lockIndex >= 0 && i > lockIndex && (step.kind === 'write' || step.kind === 'provision' || step.kind === 'burn')) {
      issues.push({ message: `${step.kind} step ${step.id} comes after the lock step: nothing is written after the lock`, path: at(i, 'kind') });
    }
    if (step.kind === 'write') {
      step.images.forEach((name, j) => {
        if (byName.get(name)?.deliveredIn !== undefined) issues.push({ message: `image ${name} is delivered in ${byName.get(name)?.deliveredIn}; write that instead`, path: at(i, 'images', j) });
        written.set(name, i);
      });
    }
    if (step.kind === 'verify') {
      step.images.forEach((name, j) => {
        const w = written.get(name) ?? written.get(byName.get(name)?.deliveredIn ?? '') ?? (lockWritten.has(name) ? i : undefined);
        if (w === undefined) issues.push({ message: `image ${name} is verified before any step writes it`, path: at(i, 'images', j) });
        else verified.add(name);
        if (step.method === 'boot_log_elf_sha256' && byName.get(name) && !byName.get(name)?.elfSha256) {
          issues.push({ message: `image ${name} has no elfSha256, so its boot log cannot be checked`, path: at(i, 'images', j) });
        }
      });
    }
    if (step.kind === 'burn' && step.fuses.length === 0 && step.keys.length === 0) issues.push({ message: `burn step ${step.id} burns nothing`, path: at(i) });
    if (step.kind === 'lock') {
      for (const [name] of written) {
        const needed = contents(name).length > 0 ? contents(name) : [name];
        for (const n of needed) if (!verified.has(n)) issues.push({ message: `image ${n} is written but not verified before the lock step ${step.id}`, path: at(i) });
      }
      step.images.forEach((name, j) => {
        if (written.has(name)) issues.push({ message: `image ${name} is written by a write step and by the lock`, path: at(i, 'images', j) });
        lockWritten.add(name);
      });
    }
  });
  // A later write of an image makes an earlier verification stale: the last write must be followed by a verification.
  for (const [name, w] of written) {
    const needed = contents(name).length > 0 ? contents(name) : [name];
    for (const n of needed) {
      const after = recipe.steps.slice(w + 1).some((s) => s.kind === 'verify' && s.images.includes(n));
      if (!after) issues.push({ message: `image ${n} is not verified after its last write`, path: ['recipe', 'steps', w] });
    }
  }
  if (lockIndex >= 0) {
    // The eFuse gate reads the device: every eFuse and key digest burned must be expected back before the lock.
    recipe.steps.slice(0, lockIndex).forEach((step, i) => {
      if (step.kind !== 'burn') return;
      const readBack = new Map<string, unknown>();
      for (const s of recipe.steps.slice(i + 1, lockIndex)) if (s.kind === 'security_state') for (const e of s.expect) readBack.set(e.field, e.equals);
      step.fuses.forEach((f, j) => {
        if (!readBack.has(f.name)) issues.push({ message: `eFuse ${f.name} burned by ${step.id} is not read back by a security_state step before the lock`, path: at(i, 'fuses', j) });
      });
      step.keys.forEach((k, j) => {
        if (k.digest !== undefined && readBack.get(k.block) !== k.digest) {
          issues.push({ message: `key block ${k.block} burned by ${step.id} is not read back as ${k.digest.slice(0, 12)}… before the lock`, path: at(i, 'keys', j) });
        }
      });
    });
  }
  return issues;
}

export const Recipe = RecipeShape;
export type Recipe = z.infer<typeof Recipe>;
export type RecipeStep = z.infer<typeof RecipeStep>;
export type ReleaseImage = z.infer<typeof ReleaseImage>;
export type Fuse = z.infer<typeof Fuse>;
export type Expectation = z.infer<typeof Expectation>;
