/**
 * A release approved as a recipe (the shipped ESP32-S3 host-based flow) and unsigned builders of the events
 * that walk a unit through it, for decider and projection tests.
 */
import type { EventOf, RecipeStep, ReleaseImage } from '../../schemas/index.ts';
import { esp32s3HostSecureRecipe } from '../../src/domain/recipes.ts';
import type { RecipeRelease } from '../../src/domain/recipe.ts';
import { ev, hash } from './events.ts';

export const hex = (c: string, n = 64) => c.repeat(n).slice(0, n);

export function image(name: string, offset: number, c: string, extra: Partial<ReleaseImage> = {}): ReleaseImage {
  return { name, offset, sha256: hex(c), sha512: hex(c, 128), sizeBytes: 4096, ...extra };
}

export const SB_DIGEST = hex('d');
export const TEMPLATE_SHA = hex('7');

export const s3Release: RecipeRelease = {
  releaseId: 'R2',
  productSku: 'SKU',
  version: '3.0.0',
  images: [image('bootloader', 0x0, 'b'), image('partition-table', 0x8000, 'c'), image('app', 0x10000, 'a', { elfSha256: hex('e') })],
  recipe: esp32s3HostSecureRecipe({ secureBootKeyDigest: SB_DIGEST, templateId: 'tpl', templateSha256: TEMPLATE_SHA }),
};

const tool = { program: 'esptool', version: 'esptool v5.1.0', exitCode: 0, stdoutSha256: hash('1'), stderrSha256: hex('0'), durationMs: 1200 };
const ctxOf = (serial: string, step: string) => ({ serial, step, operator: 'op-ana', fixture: 'JIG-1', durationMs: 1500, tools: [tool] });
const stepById = (id: string): RecipeStep => {
  const s = s3Release.recipe.steps.find((x) => x.id === id);
  if (!s) throw new Error(`no step ${id}`);
  return s;
};
const imageNamed = (name: string) => s3Release.images.find((i) => i.name === name) as ReleaseImage;

/** Events of one unit of s3Release; `source` is the signing station. */
export function recipeUnit(serial = 'SN2', source = 'ST-01') {
  const o = { source };
  const checks = (id: string, override: Record<string, unknown> = {}) => {
    const step = stepById(id);
    if (step.kind !== 'security_state') throw new Error(`${id} is not a security_state step`);
    return step.expect.map((e) => {
      const actual = (e.field in override ? override[e.field] : e.equals) as string | number | boolean | null;
      return { ...e, actual, met: actual === e.equals };
    });
  };
  const fusesOf = (id: string) => {
    const step = stepById(id);
    return step.kind === 'burn' || step.kind === 'lock' ? step.fuses : [];
  };
  return {
    scanned: (batchId = 'B2', releaseId = 'R2', station = source, extra: Partial<EventOf<'UnitScanned'>['data']> = {}) =>
      ev('UnitScanned', { serial, batchId, releaseId, station, operator: 'op-ana', fixture: 'JIG-1', productSku: 'SKU', hardwareRevision: 'rev-A', ...extra }, o),
    identity: (step = 'read-mac', mac: string | null = 'f4:12:fa:43:5b:20', chipId: string | null = null) => ev('IdentityRead', { ...ctxOf(serial, step), chipType: 'ESP32-S3 (QFN56) (revision v0.2)', chipId, mac }, o),
    started: (step: string) => ev('StepStarted', { serial, step, operator: 'op-ana', fixture: 'JIG-1' }, o),
    burned: (step: string, fuses = fusesOf(step)) => {
      const s = stepById(step);
      return ev('EfuseBurned', { ...ctxOf(serial, step), fuses, keys: s.kind === 'burn' ? s.keys : [] }, o);
    },
    securityRead: (step: string, override: Record<string, unknown> = {}) => {
      const c = checks(step, override);
      return ev('SecurityStateRead', { ...ctxOf(serial, step), fields: c.map((x) => ({ name: x.field, value: x.actual ?? 'absent' })), checks: c, result: c.every((x) => x.met) ? 'pass' : 'fail' }, o);
    },
    written: (step = 'write-images', shas: Record<string, string> = {}) => {
      const s = stepById(step);
      const names = s.kind === 'write' ? s.images : [];
      return ev('ImagesWritten', { ...ctxOf(serial, step), images: names.map((n) => ({ name: n, offset: imageNamed(n).offset, sha256: shas[n] ?? imageNamed(n).sha256, sizeBytes: 4096 })) }, o);
    },
    verified: (step = 'read-back-images', reported: Record<string, string> = {}) => {
      const s = stepById(step);
      if (s.kind !== 'verify') throw new Error(`${step} is not a verify step`);
      const boot = s.method === 'boot_log_elf_sha256';
      const images = s.images.map((n) => {
        const r = imageNamed(n);
        const expected = boot ? (r.elfSha256 as string) : r.sha256;
        const rep = reported[n] ?? (boot ? expected.slice(0, 9) : expected);
        return { name: n, expected, reported: rep, comparedChars: rep.length, result: expected.slice(0, rep.length) === rep ? ('pass' as const) : ('fail' as const) };
      });
      return ev(
        'ImagesVerified',
        {
          ...ctxOf(serial, step),
          method: s.method,
          images,
          result: images.every((i) => i.result === 'pass') ? 'pass' : 'fail',
          ...(boot ? { bootLog: { sha256: hex('9'), lines: 40, idfVersion: 'v5.4.1', appVersion: '3.0.0', projectName: 'sensor' } } : {}),
        },
        o,
      );
    },
    provisioned: (templateSha256 = TEMPLATE_SHA) => ev('ProvisioningApplied', { ...ctxOf(serial, 'write-nvs'), templateId: 'tpl', templateSha256, configSha256: hex('f') }, o),
    locked: () => ev('UnitLocked', { ...ctxOf(serial, 'enable-secure-download'), fuses: fusesOf('enable-secure-download'), images: [] }, o),
    failed: (step: string, attempt = 1, code = 'TOOL_FAILED') => ev('StepFailed', { ...ctxOf(serial, step), errorCode: code, message: 'A fatal error occurred', attempt, try: 1 }, o),
    reworked: () => ev('UnitReworked', { serial, reason: 'reseated the jig', operator: 'op-ana' }, o),
    scrapped: () => ev('UnitScrapped', { serial, reason: 'cracked', operator: 'op-ana' }, o),
    shipped: () => ev('UnitShipped', { serial, customer: 'ACME', orderRef: 'PO-1', operator: 'op-pack' }, o),
  };
}

/** Every event of a first pass, in recipe order, up to (not including) `until`. */
export function firstPass(u: ReturnType<typeof recipeUnit>, until?: string) {
  const steps = [
    ['scan', () => u.scanned()],
    ['read-mac', () => u.identity('read-mac')],
    ['read-unique-id', () => u.identity('read-unique-id', null, hex('0', 32))],
    ['start-burn-flash-encryption', () => u.started('burn-flash-encryption')],
    ['burn-flash-encryption', () => u.burned('burn-flash-encryption')],
    ['start-burn-secure-boot', () => u.started('burn-secure-boot')],
    ['burn-secure-boot', () => u.burned('burn-secure-boot')],
    ['read-back-efuses', () => u.securityRead('read-back-efuses')],
    ['write-images', () => u.written()],
    ['read-back-images', () => u.verified('read-back-images')],
    ['write-nvs', () => u.provisioned()],
    ['boot-log', () => u.verified('boot-log')],
    ['start-enable-secure-download', () => u.started('enable-secure-download')],
    ['enable-secure-download', () => u.locked()],
    ['confirm-security-info', () => u.securityRead('confirm-security-info')],
  ] as const;
  const out = [];
  for (const [name, make] of steps) {
    if (name === until) break;
    out.push(make());
  }
  return out;
}
