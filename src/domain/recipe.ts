/**
 * Walking a release's recipe (schemas/recipe.ts): which step comes next for a unit, which event records each
 * kind of step, and which steps touch the device irreversibly. One definition of the step sequence, used by
 * the unit decider, the station agent and the simulators alike, so the line and the ledger cannot disagree
 * about what comes next. Pure.
 */
import type { EventOf, Recipe, RecipeStep, ReleaseImage, StepKind, UnitEventType } from '../../schemas/index.ts';

export type ApprovedRelease = EventOf<'ReleaseApproved'>['data'];
/** A release approved as a recipe (ReleaseApproved version 2). */
export type RecipeRelease = Extract<ApprovedRelease, { recipe: Recipe }>;

export function isRecipeRelease(release: ApprovedRelease | null | undefined): release is RecipeRelease {
  return release !== null && release !== undefined && 'recipe' in release;
}

/** The event that records a completed step of each kind. */
export const STEP_EVENT: Readonly<Record<StepKind, UnitEventType>> = {
  identity: 'IdentityRead',
  burn: 'EfuseBurned',
  write: 'ImagesWritten',
  verify: 'ImagesVerified',
  provision: 'ProvisioningApplied',
  security_state: 'SecurityStateRead',
  lock: 'UnitLocked',
};

/** Steps that cannot be undone: the ledger must authorise them first (StepStarted), and they survive rework. */
export const IRREVERSIBLE: ReadonlySet<StepKind> = new Set(['burn', 'lock']);
/** Steps that change the device's flash or OTP memory. */
export const WRITES_DEVICE: ReadonlySet<StepKind> = new Set(['burn', 'write', 'provision', 'lock']);

/** Where a unit stands in its recipe during one pass; folded by the unit decider from the unit's events. */
export interface RecipeProgress {
  /** Steps completed in this pass, in the order they completed (which is recipe order). */
  readonly done: readonly string[];
  /** Irreversible steps completed in any pass: they stay done through rework. */
  readonly burned: readonly string[];
  /** The irreversible step the ledger has authorised (StepStarted) and that has not completed or failed since. */
  readonly started: string | null;
  readonly locked: boolean;
  /** Image name → SHA-256 of the last image written under that name in this pass. */
  readonly written: Readonly<Record<string, string>>;
  /** Counts writes and verifications, so that "verified since its last write" is a comparison. */
  readonly seq: number;
  /** Image name → seq of its last write, and of its last passing verification against the release. */
  readonly writtenAt: Readonly<Record<string, number>>;
  readonly verifiedAt: Readonly<Record<string, number>>;
}

export const initialProgress: RecipeProgress = { done: [], burned: [], started: null, locked: false, written: {}, seq: 0, writtenAt: {}, verifiedAt: {} };

export const isDone = (progress: RecipeProgress, stepId: string) => progress.done.includes(stepId) || progress.burned.includes(stepId);

/** The first step of the recipe not yet done in this pass (irreversible ones done in any pass); null when all are. */
export function nextStep(recipe: Recipe, progress: RecipeProgress): RecipeStep | null {
  return recipe.steps.find((s) => !isDone(progress, s.id)) ?? null;
}

export function stepOf(recipe: Recipe, stepId: string): RecipeStep | undefined {
  return recipe.steps.find((s) => s.id === stepId);
}

export function imageOf(release: RecipeRelease, name: string): ReleaseImage | undefined {
  return release.images.find((i) => i.name === name);
}

export const hasLock = (recipe: Recipe) => recipe.steps.some((s) => s.kind === 'lock');
export const recipeComplete = (recipe: Recipe, progress: RecipeProgress) => recipe.steps.every((s) => isDone(progress, s.id));

/**
 * Images of the release that the recipe's write steps put on the device (directly, or inside a container
 * they wrote) and that are not verified against the release since that write.
 */
export function unverifiedImages(release: RecipeRelease, progress: RecipeProgress): string[] {
  const written = new Set(release.recipe.steps.flatMap((s) => (s.kind === 'write' ? s.images : [])));
  const missing: string[] = [];
  for (const name of written) {
    const contents = release.images.filter((i) => i.deliveredIn === name).map((i) => i.name);
    const writtenAt = progress.writtenAt[name];
    for (const n of contents.length > 0 ? contents : [name]) {
      const verifiedAt = progress.verifiedAt[n];
      if (writtenAt === undefined || verifiedAt === undefined || verifiedAt < writtenAt) missing.push(n);
    }
  }
  return missing;
}

/**
 * Why `step` may not be recorded now, or null when it may: it is the next step, or a repeat of a step done in
 * this pass (a read may be repeated any time, a write only before the lock; an irreversible step never).
 */
export function whyNotNow(recipe: Recipe, progress: RecipeProgress, step: RecipeStep): { rule: 'CHAIN_LOCKED' | 'STEP_OUT_OF_ORDER'; message: string } | null {
  const next = nextStep(recipe, progress);
  if (next?.id === step.id) {
    if (progress.locked && WRITES_DEVICE.has(step.kind)) return { rule: 'CHAIN_LOCKED', message: `step ${step.id} writes to the device, which is locked` };
    return null;
  }
  if (progress.locked && WRITES_DEVICE.has(step.kind)) return { rule: 'CHAIN_LOCKED', message: `step ${step.id} writes to the device, which is locked: nothing is written after the lock` };
  if (IRREVERSIBLE.has(step.kind) && isDone(progress, step.id)) return { rule: 'STEP_OUT_OF_ORDER', message: `step ${step.id} is irreversible and already done` };
  if (progress.done.includes(step.id)) return null;
  return { rule: 'STEP_OUT_OF_ORDER', message: `step ${step.id} is not next: the next step is ${next ? `${next.id} (${next.kind})` : 'none (the recipe is complete)'}` };
}

/** Progress after a step's event was accepted: a repeated write undoes what came after it in this pass. */
export function completeStep(progress: RecipeProgress, step: Pick<RecipeStep, 'id' | 'kind'>, effects: { written?: Readonly<Record<string, string>>; verified?: readonly string[] } = {}): RecipeProgress {
  const written = effects.written ?? {};
  let done = progress.done;
  if (done.includes(step.id) && WRITES_DEVICE.has(step.kind)) done = done.slice(0, done.indexOf(step.id));
  else done = done.filter((id) => id !== step.id);
  const seq = progress.seq + 1;
  const writtenAt = { ...progress.writtenAt };
  for (const name of Object.keys(written)) writtenAt[name] = seq;
  const verifiedAt = { ...progress.verifiedAt };
  for (const name of effects.verified ?? []) verifiedAt[name] = seq;
  return {
    ...progress,
    done: [...done, step.id],
    burned: IRREVERSIBLE.has(step.kind) ? [...progress.burned, step.id] : progress.burned,
    started: null,
    locked: progress.locked || step.kind === 'lock',
    written: { ...progress.written, ...written },
    seq,
    writtenAt,
    verifiedAt,
  };
}

/** A verification that failed: the step is not done, and the images are not verified any more. */
export function failVerification(progress: RecipeProgress, stepId: string, images: readonly string[]): RecipeProgress {
  const verifiedAt = { ...progress.verifiedAt };
  for (const name of images) delete verifiedAt[name];
  return { ...progress, done: progress.done.filter((id) => id !== stepId), verifiedAt };
}

/** A pass ends (rework): only what was burned stays done. */
export function restartPass(progress: RecipeProgress): RecipeProgress {
  return { ...initialProgress, done: progress.done.filter((id) => progress.burned.includes(id)), burned: progress.burned, locked: progress.locked };
}
