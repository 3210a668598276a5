/**
 * The unit decider: what may happen to one unit, in which order, and by which station.
 *
 * A unit is scanned into a batch, and the batch's release says how it is made. A release approved as a
 * recipe (ReleaseApproved v2, schemas/recipe.ts) names its steps; the decider enforces them, with the
 * invariants that hold for every recipe:
 *   - steps come in recipe order; a read may be repeated, a write before the lock too (it undoes later steps);
 *   - an irreversible step (burn, lock) runs only after the ledger accepted its StepStarted, and never twice;
 *   - nothing is written to the device after the lock;
 *   - the lock requires every image written to be verified since its last write;
 *   - a verification compares against the release's hashes (image SHA-256, or its ELF SHA-256 at boot);
 *   - rework before the lock reopens the unit (burned steps stay burned); scrapped and shipped are terminal.
 * A version 1 release keeps the seed's fixed sequence (scan → bootloader → application verified →
 * provisioning → eFuse burn, which locks), so that old units still fold and old stations still work.
 *
 * For every unit, whatever its release:
 *   - who: a flashing station of the batch's line scans; after that only the station that scanned it (in this
 *     pass) records its steps; a repair station of the line may rework or scrap it, a packing station of the
 *     line may only ship it;
 *   - what: the scan's line and SKU are the batch's, its release the batch's release;
 *   - how often: passes and failures per pass are capped (the recipe's limits), then only rework or scrap;
 *   - when: not after the ledger's clock (beyond the skew), not before the batch opened or the station was
 *     registered, not earlier than the unit's previous event by more than the skew.
 * Pure: the streams it reads (the signing station, the unit's batch and release) come in as context.
 */
import { UNIT_EVENT_TYPES, type EventOfVersion, type Recipe, type RecipeStep, type UnitEvent } from '../../schemas/index.ts';
import { unitStream } from '../event/streams.ts';
import { DecisionError, type RuleCode } from './decision-error.ts';
import { defineAggregate, type StreamRef } from './aggregate.ts';
import { batchAggregate, type BatchState } from './batch.ts';
import { releaseAggregate, type ReleaseState } from './release.ts';
import { stationAggregate, type StationState } from './station.ts';
import {
  completeStep,
  failVerification,
  hasLock,
  imageOf,
  initialProgress,
  IRREVERSIBLE,
  isRecipeRelease,
  nextStep,
  recipeComplete,
  restartPass,
  STEP_EVENT,
  stepOf,
  unverifiedImages,
  whyNotNow,
  type RecipeProgress,
  type RecipeRelease,
} from './recipe.ts';

export type UnitStatus =
  | 'new'
  | 'scanned'
  | 'reworked'
  // the seed's fixed sequence (version 1 releases)
  | 'bootloader_written'
  | 'app_verified'
  | 'provisioned'
  // a recipe (whether every step is done follows from the recipe: see recipeComplete)
  | 'in_progress'
  | 'locked'
  | 'shipped'
  | 'scrapped';

export interface UnitState {
  readonly status: UnitStatus;
  readonly serial: string | null;
  readonly batchId: string | null;
  /** The release whose recipe the unit follows (set by a version 2 scan). */
  readonly releaseId: string | null;
  /** 'recipe' once scanned by a version 2 scan; 'fixed' for the seed's sequence; null before the scan. */
  readonly model: 'fixed' | 'recipe' | null;
  /** The station that scanned the unit in this pass: the one that records its steps. */
  readonly station: string | null;
  /** 1 for the first pass, +1 per rework. */
  readonly attempt: number;
  readonly failures: number;
  /** Failed tries in this pass. */
  readonly passFailures: number;
  /** Events in this pass, and in the whole stream. */
  readonly passEvents: number;
  readonly events: number;
  /** occurredAt of the last event. */
  readonly lastAt: string | null;
  readonly progress: RecipeProgress;
  readonly chipId: string | null;
  readonly mac: string | null;
  /** The release a field update (FirmwareUpdated) put on the unit; null while it carries what it was made with. */
  readonly fieldReleaseId?: string | null;
}

export const initialUnitState: UnitState = {
  status: 'new',
  serial: null,
  batchId: null,
  releaseId: null,
  model: null,
  station: null,
  attempt: 1,
  failures: 0,
  passFailures: 0,
  passEvents: 0,
  events: 0,
  lastAt: null,
  progress: initialProgress,
  chipId: null,
  mac: null,
};

/** Limits for units of a version 1 release, which names none. */
export const FIXED_SEQUENCE_LIMITS = { maxAttempts: 8, maxFailuresPerAttempt: 16 } as const;
/** Whatever a recipe says, a unit stream stays bounded: events per pass beyond its steps and failures. */
export const MAX_EXTRA_EVENTS_PER_PASS = 32;

export interface StationFacts {
  readonly stationId: string;
  readonly line: string | null;
  readonly role: StationState['role'];
  readonly registeredAt: string | null;
}

export interface UnitDecisionContext {
  readonly now: Date;
  /** How far an event's occurredAt may lie ahead of the ledger's clock, or behind the unit's previous event. */
  readonly maxClockSkewMs: number;
  /** The signing station. */
  readonly station: StationFacts;
  readonly batch: (batchId: string) => BatchState;
  readonly release: (releaseId: string) => ReleaseState;
}

const FIXED_STEP_TYPES = new Set<UnitEvent['type']>(['BootloaderWritten', 'AppVerified']);
const UNLOCKED_WORK: readonly UnitStatus[] = ['scanned', 'reworked', 'bootloader_written', 'app_verified', 'provisioned'];

/** The recipe step an event records, for the recipe's own event types and version 2 versions. */
function recipeStepOf(event: UnitEvent): string | null {
  switch (event.type) {
    case 'IdentityRead':
    case 'StepStarted':
    case 'ImagesWritten':
    case 'ImagesVerified':
    case 'SecurityStateRead':
    case 'UnitLocked':
      return event.data.step;
    case 'EfuseBurned':
    case 'ProvisioningApplied':
    case 'StepFailed':
      return event.schemaVersion === 2 ? event.data.step : null;
    default:
      return null;
  }
}

/** Events that belong to one model only: version 1 step events, and recipe step events. */
function modelOf(event: UnitEvent): 'fixed' | 'recipe' | 'any' {
  if (FIXED_STEP_TYPES.has(event.type)) return 'fixed';
  if (event.type === 'UnitScanned') return event.schemaVersion === 2 ? 'recipe' : 'fixed';
  if (event.type === 'ProvisioningApplied' || event.type === 'EfuseBurned' || event.type === 'StepFailed') return event.schemaVersion === 2 ? 'recipe' : 'fixed';
  return recipeStepOf(event) !== null ? 'recipe' : 'any';
}

export function decideUnit(event: UnitEvent, state: UnitState, ctx: UnitDecisionContext): UnitEvent[] {
  const refuse = (rule: RuleCode, message: string): never => {
    throw new DecisionError(rule, `${message} (unit ${event.data.serial} is ${state.status})`, state.status);
  };
  checkTime(event, state, ctx, refuse);
  if (event.type === 'FirmwareUpdated') {
    decideFieldUpdate(event, state, ctx, refuse);
    return [event];
  }
  if (ctx.station.role === 'fleet') refuse('ROLE_NOT_ALLOWED', `${event.type} refused: ${ctx.station.stationId} is the fleet's update service, which only reports field updates (FirmwareUpdated)`);
  if (state.status === 'scrapped') refuse('UNIT_SCRAPPED', `${event.type} refused: the unit was scrapped`);
  if (state.status === 'shipped') refuse('UNIT_SHIPPED', `${event.type} refused: the unit has shipped`);
  if (state.status === 'new' && event.type !== 'UnitScanned') refuse('UNIT_NOT_SCANNED', `${event.type} refused: the unit must be scanned first`);

  const batchId = event.type === 'UnitScanned' ? event.data.batchId : state.batchId;
  const batch = batchId === null ? null : ctx.batch(batchId);
  const releaseId = batch?.opened?.releaseId ?? null;
  const approved = releaseId === null ? null : ctx.release(releaseId).approved;
  const release = isRecipeRelease(approved) ? approved : null;
  checkStation(event, state, ctx.station, batch, refuse);

  const limits = release?.recipe.limits ?? FIXED_SEQUENCE_LIMITS;
  const endsPass = event.type === 'UnitReworked' || event.type === 'UnitScrapped';
  if (!endsPass && state.status !== 'new') {
    if (state.passFailures >= limits.maxFailuresPerAttempt) {
      refuse('FAILURE_LIMIT', `${event.type} refused: ${state.passFailures} failures in pass ${state.attempt} reached the limit of ${limits.maxFailuresPerAttempt}; rework or scrap the unit`);
    }
    const maxEvents = (release ? release.recipe.steps.length * 2 : 8) + limits.maxFailuresPerAttempt + MAX_EXTRA_EVENTS_PER_PASS;
    if (state.passEvents >= maxEvents) refuse('STREAM_LIMIT', `${event.type} refused: pass ${state.attempt} already has ${state.passEvents} events; rework or scrap the unit`);
  }
  if (event.type === 'UnitReworked' && state.attempt >= limits.maxAttempts) {
    refuse('ATTEMPT_LIMIT', `UnitReworked refused: the unit made ${state.attempt} of ${limits.maxAttempts} passes; scrap it`);
  }

  const model = modelOf(event);
  const unitModel = state.model ?? (model === 'any' ? null : model);
  if (model !== 'any' && unitModel !== null && model !== unitModel) {
    refuse('RECIPE_MISMATCH', `${event.type} v${event.schemaVersion} refused: the unit follows ${unitModel === 'recipe' ? "its release's recipe" : 'the fixed sequence of a version 1 release'}`);
  }
  if (event.type === 'UnitScanned') {
    decideScan(event, state, ctx, batch, approved === null ? null : release !== null, refuse);
    return [event];
  }
  if (state.model === 'recipe') {
    if (!release) return refuse('RELEASE_UNKNOWN', `${event.type} refused: release ${releaseId ?? '?'} of the unit's batch is not approved as a recipe`);
    decideRecipeEvent(event, state, release, refuse);
  } else {
    decideFixedSequence(event, state, refuse);
  }
  return [event];
}

type Refuse = (rule: RuleCode, message: string) => never;

/** The release a unit carries now: the last field update's, or its batch's (what it was made with). */
export function carriedReleaseId(state: UnitState, batch: BatchState | null): string | null {
  return state.fieldReleaseId ?? state.releaseId ?? batch?.opened?.releaseId ?? null;
}

/** The image hashes of a release by image name (a version 1 release: bootloader and application). */
export function releaseImageHashes(approved: NonNullable<ReleaseState['approved']>): ReadonlyMap<string, string> {
  if ('images' in approved) return new Map(approved.images.map((i) => [i.name, i.sha256]));
  return new Map([
    ['bootloader', approved.bootloaderSha256],
    ['application', approved.applicationSha256],
  ]);
}

/**
 * A field update: reported by the fleet's update service, for a shipped unit, from the release it carries,
 * to an approved release of the same product whose images the device reported running.
 */
function decideFieldUpdate(event: EventOfVersion<'FirmwareUpdated', 1>, state: UnitState, ctx: UnitDecisionContext, refuse: Refuse): void {
  const d = event.data;
  if (ctx.station.role !== 'fleet') refuse('ROLE_NOT_ALLOWED', `FirmwareUpdated refused: ${ctx.station.stationId} is a ${ctx.station.role} station; field updates are reported by a station registered with role fleet`);
  if (state.status === 'scrapped') refuse('UNIT_SCRAPPED', 'FirmwareUpdated refused: the unit was scrapped');
  if (state.status !== 'shipped') refuse('UNIT_NOT_SHIPPED', 'FirmwareUpdated refused: only a shipped unit is updated in the field; on the line, rework it');
  const batch = state.batchId === null ? null : ctx.batch(state.batchId);
  const carried = carriedReleaseId(state, batch);
  if (carried !== d.fromReleaseId) refuse('RELEASE_MISMATCH', `FirmwareUpdated refused: the unit carries release ${carried ?? '?'}, not ${d.fromReleaseId}`);
  const to = ctx.release(d.toReleaseId).approved;
  if (to === null) return refuse('RELEASE_UNKNOWN', `FirmwareUpdated refused: release ${d.toReleaseId} is not approved`);
  const sku = batch?.opened?.productSku;
  if (sku !== undefined && to.productSku !== sku) refuse('SKU_MISMATCH', `FirmwareUpdated refused: release ${d.toReleaseId} is for ${to.productSku}, the unit is a ${sku}`);
  const hashes = releaseImageHashes(to);
  for (const image of d.images) {
    const expected = hashes.get(image.name);
    if (expected === undefined) refuse('IMAGE_MISMATCH', `FirmwareUpdated refused: release ${d.toReleaseId} has no image ${image.name} (it has ${[...hashes.keys()].join(', ')})`);
    if (expected !== image.sha256) refuse('IMAGE_MISMATCH', `FirmwareUpdated refused: ${image.name} ${image.sha256.slice(0, 16)}… is not release ${d.toReleaseId}'s ${expected?.slice(0, 16) ?? ''}…`);
  }
}

function checkTime(event: UnitEvent, state: UnitState, ctx: UnitDecisionContext, refuse: Refuse): void {
  const at = Date.parse(event.occurredAt);
  if (at > ctx.now.getTime() + ctx.maxClockSkewMs) {
    refuse('CLOCK_SKEW', `occurredAt ${event.occurredAt} is ahead of the ledger clock ${ctx.now.toISOString()}`);
  }
  if (state.lastAt !== null && at < Date.parse(state.lastAt) - ctx.maxClockSkewMs) {
    refuse('TIME_REGRESSION', `occurredAt ${event.occurredAt} is earlier than the unit's previous event (${state.lastAt}) by more than the allowed skew of ${ctx.maxClockSkewMs} ms`);
  }
  const registeredAt = ctx.station.registeredAt;
  if (registeredAt !== null && at < Date.parse(registeredAt) - ctx.maxClockSkewMs) {
    refuse('BEFORE_STATION_REGISTERED', `occurredAt ${event.occurredAt} is before station ${ctx.station.stationId} was registered (${registeredAt})`);
  }
  if (event.type === 'UnitScanned') {
    const openedAt = ctx.batch(event.data.batchId).openedAt;
    if (openedAt !== undefined && at < Date.parse(openedAt) - ctx.maxClockSkewMs) {
      refuse('BEFORE_BATCH_OPENED', `occurredAt ${event.occurredAt} is before batch ${event.data.batchId} was opened (${openedAt})`);
    }
  }
}

/** Who may append: the scanning station for its unit's steps, repair and packing stations of the line for their part. */
function checkStation(event: UnitEvent, state: UnitState, station: StationFacts, batch: BatchState | null, refuse: Refuse): void {
  const line = batch?.opened?.line ?? null;
  const sameLine = () => {
    if (line !== null && station.line !== line) refuse('LINE_MISMATCH', `${event.type} refused: station ${station.stationId} is on line ${station.line ?? '?'}, the unit's batch on line ${line}`);
  };
  const role = station.role;
  if (role === 'pack') {
    if (event.type !== 'UnitShipped') refuse('ROLE_NOT_ALLOWED', `${event.type} refused: ${station.stationId} is a packing station, which only ships`);
    return sameLine();
  }
  if (role === 'repair') {
    if (event.type !== 'UnitReworked' && event.type !== 'UnitScrapped') refuse('ROLE_NOT_ALLOWED', `${event.type} refused: ${station.stationId} is a repair station, which only reworks and scraps`);
    return sameLine();
  }
  if (event.type === 'UnitScanned') return sameLine();
  if (state.station !== null && state.station !== station.stationId) {
    refuse('STATION_NOT_OWNER', `${event.type} refused: the unit was scanned by station ${state.station} in this pass; ${station.stationId} may not write to it`);
  }
}

function decideScan(event: EventOfVersion<'UnitScanned', 1 | 2>, state: UnitState, ctx: UnitDecisionContext, batch: BatchState | null, recipeRelease: boolean | null, refuse: Refuse): void {
  if (!['new', 'reworked'].includes(state.status)) {
    if (state.status === 'locked') refuse('CHAIN_LOCKED', 'UnitScanned refused: the unit is locked');
    refuse('UNIT_ALREADY_SCANNED', 'UnitScanned refused: the unit is already scanned and in progress');
  }
  const d = event.data;
  if (batch?.status !== 'open') refuse('BATCH_NOT_OPEN', `UnitScanned refused: batch ${d.batchId} is ${batch?.status ?? 'unknown'}`);
  if (d.station !== event.source.id) refuse('STATION_MISMATCH', `UnitScanned refused: data.station ${d.station} is not the signing station ${event.source.id}`);
  if (state.batchId !== null && state.batchId !== d.batchId) refuse('BATCH_MISMATCH', `UnitScanned refused: the unit belongs to batch ${state.batchId}`);
  const opened = batch?.opened;
  if (opened && opened.productSku !== d.productSku) refuse('SKU_MISMATCH', `UnitScanned refused: batch ${d.batchId} makes ${opened.productSku}, not ${d.productSku}`);
  if (event.schemaVersion === 2) {
    if (opened && opened.releaseId !== event.data.releaseId) refuse('RELEASE_MISMATCH', `UnitScanned refused: batch ${d.batchId} is of release ${opened.releaseId}, not ${event.data.releaseId}`);
    if (recipeRelease === false) refuse('RECIPE_MISMATCH', `UnitScanned v2 refused: release ${event.data.releaseId} is a version 1 release without a recipe`);
    if (recipeRelease === null) refuse('RELEASE_UNKNOWN', `UnitScanned refused: release ${event.data.releaseId} is not approved`);
  } else if (recipeRelease === true) {
    refuse('RECIPE_MISMATCH', `UnitScanned v1 refused: release ${opened?.releaseId ?? '?'} is a recipe; scan with a version 2 UnitScanned and follow its steps`);
  }
  void ctx;
}

function decideRecipeEvent(event: UnitEvent, state: UnitState, release: RecipeRelease, refuse: Refuse): void {
  const recipe = release.recipe;
  const p = state.progress;
  switch (event.type) {
    case 'UnitReworked':
      if (p.locked) refuse('CHAIN_LOCKED', 'UnitReworked refused: the unit is locked; ship or scrap it');
      if (state.status === 'reworked') refuse('OUT_OF_SEQUENCE', 'UnitReworked refused: the unit is already reworked; scan it to start the next pass');
      return;
    case 'UnitScrapped':
      return;
    case 'UnitShipped':
      if (hasLock(recipe) && !p.locked) refuse('NOT_LOCKED', 'UnitShipped refused: the lock step must be done before shipping');
      if (!recipeComplete(recipe, p)) refuse('RECIPE_INCOMPLETE', `UnitShipped refused: step ${nextStep(recipe, p)?.id ?? '?'} of the recipe is not done`);
      return;
    default:
      break;
  }
  if (state.status === 'reworked') refuse('UNIT_NOT_SCANNED', `${event.type} refused: the unit was reworked; scan it to start pass ${state.attempt}`);
  const stepId = recipeStepOf(event);
  const step = stepId === null ? undefined : stepOf(recipe, stepId);
  if (!step) return refuse('STEP_UNKNOWN', `${event.type} refused: ${stepId ?? '(none)'} is not a step of recipe ${recipe.id}`);
  const expectedType = STEP_EVENT[step.kind];
  const isCompletion = event.type !== 'StepFailed' && event.type !== 'StepStarted';
  if (isCompletion && event.type !== expectedType) refuse('STEP_UNKNOWN', `${event.type} refused: step ${step.id} is a ${step.kind} step, recorded by ${expectedType}`);

  if (event.type === 'StepFailed') {
    if (event.schemaVersion === 2 && event.data.attempt !== state.attempt) refuse('OUT_OF_SEQUENCE', `StepFailed refused: attempt ${event.data.attempt} is not the unit's pass ${state.attempt}`);
    if (p.started !== step.id) {
      const why = whyNotNow(recipe, p, step);
      if (why) refuse(why.rule, `StepFailed refused: ${why.message}`);
    }
    return;
  }
  if (event.type === 'StepStarted') {
    if (!IRREVERSIBLE.has(step.kind)) refuse('STEP_UNKNOWN', `StepStarted refused: step ${step.id} is a ${step.kind} step; only irreversible steps (burn, lock) are started`);
    const next = nextStep(recipe, p);
    if (next?.id !== step.id) refuse('STEP_OUT_OF_ORDER', `StepStarted refused: step ${step.id} is not next; the next step is ${next ? next.id : 'none'}`);
    if (step.kind === 'lock') checkLockable(release, p, refuse);
    return;
  }
  const why = whyNotNow(recipe, p, step);
  if (why) refuse(why.rule, `${event.type} refused: ${why.message}`);
  if (IRREVERSIBLE.has(step.kind) && p.started !== step.id) {
    refuse('STEP_NOT_STARTED', `${event.type} refused: step ${step.id} is irreversible and the ledger has not accepted its StepStarted`);
  }
  checkAgainstRecipe(event, step, release, refuse);
  if (step.kind === 'lock') checkLockable(release, p, refuse);
}

function checkLockable(release: RecipeRelease, p: RecipeProgress, refuse: Refuse): void {
  const unverified = unverifiedImages(release, p);
  if (unverified.length > 0) refuse('NOT_VERIFIED', `the lock requires every image verified against the release; not verified: ${unverified.join(', ')}`);
}

const sameList = <T>(a: readonly T[], b: readonly T[], key: (x: T) => string) => a.length === b.length && a.every((x, i) => key(x) === key(b[i] as T));

/** What the event says it did must be what the recipe step says to do, against the release's images. */
function checkAgainstRecipe(event: UnitEvent, step: RecipeStep, release: RecipeRelease, refuse: Refuse): void {
  const fuseKey = (f: { name: string; value: string }) => `${f.name}=${f.value}`;
  const keyKey = (k: { block: string; purpose: string; digest?: string | undefined }) => `${k.block}/${k.purpose}/${k.digest ?? ''}`;
  const sameImages = (names: readonly string[], wanted: readonly string[]) => names.length === wanted.length && [...names].sort().join() === [...wanted].sort().join();
  switch (event.type) {
    case 'EfuseBurned':
      if (event.schemaVersion !== 2 || step.kind !== 'burn') return;
      if (!sameList(event.data.fuses, step.fuses, fuseKey)) refuse('FUSES_MISMATCH', `EfuseBurned refused: step ${step.id} burns ${step.fuses.map(fuseKey).join(', ') || 'no eFuses'}, not ${event.data.fuses.map(fuseKey).join(', ') || 'none'}`);
      if (!sameList(event.data.keys, step.keys, keyKey)) refuse('FUSES_MISMATCH', `EfuseBurned refused: step ${step.id} burns keys ${step.keys.map(keyKey).join(', ')}, not ${event.data.keys.map(keyKey).join(', ')}`);
      return;
    case 'UnitLocked': {
      if (step.kind !== 'lock') return;
      if (!sameList(event.data.fuses, step.fuses, fuseKey)) refuse('FUSES_MISMATCH', `UnitLocked refused: step ${step.id} burns ${step.fuses.map(fuseKey).join(', ') || 'no eFuses'}, not ${event.data.fuses.map(fuseKey).join(', ') || 'none'}`);
      if (!sameImages(event.data.images.map((i) => i.name), step.images)) refuse('IMAGE_MISMATCH', `UnitLocked refused: step ${step.id} writes ${step.images.join(', ') || 'no image'}`);
      for (const i of event.data.images) {
        const r = imageOf(release, i.name);
        if (!r || r.sha256 !== i.sha256 || r.offset !== i.offset || r.sizeBytes !== i.sizeBytes) refuse('IMAGE_MISMATCH', `UnitLocked refused: ${i.name} is not the release's image (sha256, offset and size must match)`);
      }
      return;
    }
    case 'ImagesWritten': {
      if (step.kind !== 'write') return;
      if (!sameImages(event.data.images.map((i) => i.name), step.images)) refuse('IMAGE_MISMATCH', `ImagesWritten refused: step ${step.id} writes ${step.images.join(', ')}, not ${event.data.images.map((i) => i.name).join(', ')}`);
      // The bytes written may differ from the release (a station with the wrong file): that is recorded as it
      // happened, and no verification against the release can then pass. Where they go may not differ.
      for (const i of event.data.images) {
        const r = imageOf(release, i.name);
        if (r && r.offset !== i.offset) refuse('IMAGE_MISMATCH', `ImagesWritten refused: ${i.name} belongs at 0x${r.offset.toString(16)}, not 0x${i.offset.toString(16)}`);
      }
      return;
    }
    case 'ImagesVerified': {
      if (step.kind !== 'verify') return;
      if (event.data.method !== step.method) refuse('METHOD_MISMATCH', `ImagesVerified refused: step ${step.id} verifies by ${step.method}, not ${event.data.method}`);
      if (!sameImages(event.data.images.map((i) => i.name), step.images)) refuse('IMAGE_MISMATCH', `ImagesVerified refused: step ${step.id} verifies ${step.images.join(', ')}`);
      for (const c of event.data.images) {
        const r = imageOf(release, c.name);
        const expected = step.method === 'boot_log_elf_sha256' ? r?.elfSha256 : r?.sha256;
        if (expected !== c.expected) refuse('VERIFY_MISMATCH', `ImagesVerified refused: ${c.name} was compared with ${c.expected.slice(0, 16)}…, not the release's ${step.method === 'boot_log_elf_sha256' ? 'ELF ' : ''}SHA-256 ${expected?.slice(0, 16) ?? '(none)'}…`);
      }
      return;
    }
    case 'ProvisioningApplied':
      if (event.schemaVersion !== 2 || step.kind !== 'provision') return;
      if (event.data.templateId !== step.templateId || event.data.templateSha256 !== step.templateSha256) {
        refuse('TEMPLATE_MISMATCH', `ProvisioningApplied refused: step ${step.id} renders template ${step.templateId} ${step.templateSha256.slice(0, 12)}…`);
      }
      return;
    case 'SecurityStateRead':
      if (step.kind !== 'security_state') return;
      if (!sameList(event.data.checks, step.expect, (c) => `${c.field}=${JSON.stringify(c.equals)}`)) {
        refuse('CHECKS_MISMATCH', `SecurityStateRead refused: step ${step.id} checks ${step.expect.map((e) => e.field).join(', ') || 'nothing'}; every check must be reported`);
      }
      return;
    default:
      return;
  }
}

function decideFixedSequence(event: UnitEvent, state: UnitState, refuse: Refuse): void {
  const allowedIn = (rule: RuleCode, statuses: readonly UnitStatus[], what: string) => {
    if (!statuses.includes(state.status)) {
      if (state.status === 'locked') refuse('CHAIN_LOCKED', `${event.type} refused: eFuses are burned, the firmware chain is locked`);
      refuse(rule, `${event.type} refused: ${what}`);
    }
  };
  switch (event.type) {
    case 'BootloaderWritten':
      return allowedIn('OUT_OF_SEQUENCE', UNLOCKED_WORK, 'bootloader can only be written to a scanned unit');
    case 'AppVerified':
      return allowedIn('BOOTLOADER_REQUIRED', ['bootloader_written', 'app_verified', 'provisioned'], 'write the bootloader first');
    case 'ProvisioningApplied':
      return allowedIn('APP_NOT_VERIFIED', ['app_verified', 'provisioned'], 'the application must be verified against its image first');
    case 'EfuseBurned':
      return allowedIn('PROVISIONING_REQUIRED', ['provisioned'], 'apply provisioning before burning eFuses');
    case 'UnitReworked':
      return allowedIn('OUT_OF_SEQUENCE', UNLOCKED_WORK, 'only a unit in progress can be reworked');
    case 'UnitShipped':
      if (state.status !== 'locked') refuse('NOT_LOCKED', 'UnitShipped refused: eFuses must be burned before shipping');
      return;
    case 'StepFailed':
    case 'UnitScrapped':
      return;
    default:
      return refuse('RECIPE_MISMATCH', `${event.type} refused: the unit follows the fixed sequence of a version 1 release`);
  }
}

/** The status of a recipe unit, from its progress. */
function recipeStatus(progress: RecipeProgress): UnitStatus {
  if (progress.locked) return 'locked';
  return progress.done.length === 0 && progress.started === null ? 'scanned' : 'in_progress';
}

type MutableUnitState = { -readonly [K in keyof UnitState]: UnitState[K] };

/** The state after a failed try: a copy of `s` (built only on a failure). */
function failedFrom(s: UnitState): UnitState {
  return { ...s, failures: s.failures + 1, passFailures: s.passFailures + 1 };
}

/** Marks a recipe step done in `s` (evolveUnit's own copy) and returns it. */
function completeIn(s: MutableUnitState, kind: RecipeStep['kind'], step: string, effects?: Parameters<typeof completeStep>[2]): UnitState {
  s.progress = completeStep(s.progress, { id: step, kind }, effects);
  s.status = recipeStatus(s.progress);
  return s;
}

export function evolveUnit(state: UnitState, event: UnitEvent): UnitState {
  // `s` is this call's own copy: the common cases set its members and return it, instead of a second copy
  // per event (a rebuild folds every event of the log). `state` is never changed.
  const s: MutableUnitState = { ...state, events: state.events + 1, passEvents: state.passEvents + 1, lastAt: event.occurredAt };
  switch (event.type) {
    case 'UnitScanned': {
      const recipe = event.schemaVersion === 2;
      s.status = 'scanned';
      s.serial = event.data.serial;
      s.batchId = event.data.batchId;
      if (recipe) s.releaseId = event.data.releaseId;
      s.model = recipe ? 'recipe' : 'fixed';
      s.station = event.source.id;
      if (!recipe) {
        s.chipId = event.data.chipId ?? s.chipId;
        s.mac = event.data.mac ?? s.mac;
      }
      return s;
    }
    case 'BootloaderWritten':
      s.status = 'bootloader_written';
      return s;
    case 'AppVerified':
      if (event.data.result !== 'pass') return { ...failedFrom(s), status: 'bootloader_written' };
      s.status = 'app_verified';
      return s;
    case 'IdentityRead': {
      const chipId = event.data.chipId ?? s.chipId;
      const mac = event.data.mac ?? s.mac;
      completeIn(s, 'identity', event.data.step);
      s.chipId = chipId;
      s.mac = mac;
      return s;
    }
    case 'StepStarted':
      s.progress = { ...s.progress, started: event.data.step };
      s.status = 'in_progress';
      return s;
    case 'ImagesWritten':
      return completeIn(s, 'write', event.data.step, { written: Object.fromEntries(event.data.images.map((i) => [i.name, i.sha256])) });
    case 'ImagesVerified':
      if (event.data.result === 'fail') return { ...failedFrom(s), progress: failVerification(s.progress, event.data.step, event.data.images.map((i) => i.name)) };
      return completeIn(s, 'verify', event.data.step, { verified: event.data.images.map((i) => i.name) });
    case 'SecurityStateRead':
      if (event.data.result === 'fail') return { ...failedFrom(s), progress: failVerification(s.progress, event.data.step, []) };
      return completeIn(s, 'security_state', event.data.step);
    case 'UnitLocked':
      return completeIn(s, 'lock', event.data.step);
    case 'ProvisioningApplied':
      if (event.schemaVersion === 2) return completeIn(s, 'provision', event.data.step);
      s.status = 'provisioned';
      return s;
    case 'EfuseBurned':
      if (event.schemaVersion === 2) return completeIn(s, 'burn', event.data.step);
      s.status = 'locked';
      s.progress = { ...s.progress, locked: true };
      return s;
    case 'StepFailed':
      return { ...failedFrom(s), progress: { ...s.progress, started: null } };
    case 'UnitReworked': {
      s.status = 'reworked';
      s.attempt = s.attempt + 1;
      s.passFailures = 0;
      s.passEvents = 0;
      // A recipe unit starts its next pass with a scan, at whichever flashing station of the line takes it.
      if (s.model === 'recipe') {
        s.station = null;
        s.progress = restartPass(s.progress);
      }
      return s;
    }
    case 'UnitScrapped':
      s.status = 'scrapped';
      return s;
    case 'UnitShipped':
      s.status = 'shipped';
      return s;
    case 'FirmwareUpdated':
      s.fieldReleaseId = event.data.toReleaseId;
      return s;
  }
}

/** Whether a recipe unit has done everything its recipe asks (for `completed` in views). */
export function unitComplete(state: UnitState, recipe: Recipe): boolean {
  return recipeComplete(recipe, state.progress);
}

const stationFacts = (stationId: string, s: StationState): StationFacts => ({ stationId, line: s.line, role: s.role, registeredAt: s.registeredAt });

export const unitAggregate = defineAggregate<UnitEvent, UnitState>({
  name: 'unit',
  streamPrefix: unitStream(''),
  eventTypes: UNIT_EVENT_TYPES,
  initialState: initialUnitState,
  evolve: evolveUnit,
  // The signing station (who may write), the unit's batch (open? which line, SKU, release?) and that release (its recipe).
  context: (event, state, loaded) => {
    const refs: StreamRef<unknown>[] = [stationAggregate.stream(event.source.id)];
    const batchId = event.type === 'UnitScanned' ? event.data.batchId : state.batchId;
    if (batchId !== null) {
      const batchRef = batchAggregate.stream(batchId);
      refs.push(batchRef);
      const releaseId = loaded(batchRef)?.opened?.releaseId;
      if (releaseId !== undefined) refs.push(releaseAggregate.stream(releaseId));
    }
    // A field update names the release it installs.
    if (event.type === 'FirmwareUpdated' && !refs.some((r) => r.stream === releaseAggregate.stream(event.data.toReleaseId).stream)) refs.push(releaseAggregate.stream(event.data.toReleaseId));
    return refs;
  },
  decide: (event, state, ctx) =>
    decideUnit(event, state, {
      now: ctx.now,
      maxClockSkewMs: ctx.maxClockSkewMs,
      station: stationFacts(event.source.id, ctx.stateOf(stationAggregate.stream(event.source.id))),
      batch: (batchId) => ctx.stateOf(batchAggregate.stream(batchId)),
      release: (releaseId) => ctx.stateOf(releaseAggregate.stream(releaseId)),
    }),
});
