/**
 * One pass of one unit through its release's recipe, at this station. The next step comes from the same
 * recipe walk the ledger's decider uses (src/domain/recipe.ts), and the unit's state is folded by the same
 * evolve function, from the events this run signs: the station and the ledger cannot disagree about what
 * comes next.
 *
 * Every step runs its tools with the device port released, keeps their whole output as evidence, and signs
 * one event with what the device or tool reported. An irreversible step (burn, lock) first needs positive
 * evidence that the ledger holds the unit as ready for it: the ledger must accept the step's StepStarted
 * (which it does only when the unit's chain is whole, none of its events refused, and the recipe says this
 * step is next); unreachable, the configured offline policy decides (default: refuse).
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EventOf, RecipeStep, UnitEvent, UnitEventType } from '../schemas/index.ts';
import type { EventSigner } from '../src/event/signer.ts';
import { unitStream } from '../src/event/streams.ts';
import { evolveUnit, type UnitState } from '../src/domain/unit.ts';
import { imageOf, IRREVERSIBLE, nextStep, type RecipeRelease } from '../src/domain/recipe.ts';
import type { StationConfig, StepConfig } from './config.ts';
import type { Outbox } from './outbox.ts';
import type { Sender } from './sender.ts';
import type { DevicePort } from './serial.ts';
import type { EvidenceStore } from './evidence.ts';
import { runTool, type ToolResult } from './tools.ts';
import {
  blhostStatus,
  ELF_SHA_PATTERN,
  espefuseBurnConfirmed,
  failureSummary,
  parseBootLog,
  END_OF_STARTUP,
  END_OF_STARTUP_WAIT_MS,
  parseIdentity,
  parseSecurityState,
  parseVerifyFlash,
  parseWriteFlash,
  securityFieldNames,
  toolVersion,
  type FieldValue,
} from './tool-output.ts';

export interface UnitRunDeps {
  readonly config: StationConfig;
  readonly release: RecipeRelease;
  readonly batchId: string;
  readonly productSku: string;
  readonly signer: EventSigner;
  readonly outbox: Outbox;
  readonly sender: Sender;
  readonly device: DevicePort;
  readonly evidence: EvidenceStore;
  readonly clock: () => Date;
  readonly out: (line: string) => void;
}

export type UnitOutcome = { outcome: 'pass' } | { outcome: 'rework'; why: string };

type ToolRunEvidence = EventOf<'IdentityRead'>['data']['tools'][number];

/** What one try of a step produced: the event recording it, or why it failed. */
type TryResult =
  | { ok: true; type: UnitEventType; data: Record<string, unknown>; summary: string }
  | { ok: false; errorCode: string; message: string; tools: ToolRunEvidence[]; retry: boolean; recorded?: boolean };

export class UnitRun {
  private state: UnitState;
  private readonly log: string[] = [];
  private readonly tmp: string;

  constructor(
    private readonly d: UnitRunDeps,
    readonly serial: string,
    private readonly operator: string,
    state: UnitState,
  ) {
    this.state = state;
    this.tmp = join(d.config.dataDir, 'tmp', `${serial}-${randomBytes(4).toString('hex')}`);
  }

  get unitState(): UnitState {
    return this.state;
  }

  /** Scans the unit into the batch (a new pass), then runs every step that is next, until done or rework. */
  async run(scan: boolean): Promise<UnitOutcome> {
    mkdirSync(this.tmp, { recursive: true, mode: 0o700 });
    try {
      if (scan) {
        this.record('UnitScanned', {
          serial: this.serial,
          batchId: this.d.batchId,
          releaseId: this.d.release.releaseId,
          station: this.d.config.stationId,
          operator: this.operator,
          ...(this.d.config.fixture ? { fixture: this.d.config.fixture } : {}),
          productSku: this.d.productSku,
          hardwareRevision: this.d.config.hardwareRevision,
        });
        this.log.push('scanned');
      }
      for (;;) {
        const step = nextStep(this.d.release.recipe, this.state.progress);
        if (!step) return { outcome: 'pass' };
        const done = await this.runStep(step);
        if (!done.ok) return { outcome: 'rework', why: done.why };
      }
    } finally {
      rmSync(this.tmp, { recursive: true, force: true });
    }
  }

  summary(): string {
    return this.log.join(' · ');
  }

  /** Signs an event chained to its stream's head, commits it to the outbox, and folds it into the state. */
  private record(type: UnitEventType, data: unknown): string {
    const stream = unitStream(this.serial);
    const prev = this.d.outbox.head(stream) ?? null;
    const signed = this.d.signer.sign(type, data as never, { prev, occurredAt: this.d.clock() });
    this.d.outbox.enqueue(signed, this.d.clock());
    this.d.sender.poke();
    this.state = evolveUnit(this.state, signed.event as UnitEvent);
    return signed.event.id;
  }

  private limits() {
    return this.d.release.recipe.limits;
  }

  /** The tries of one step; false when the unit must go to rework. */
  private async runStep(step: RecipeStep): Promise<{ ok: true } | { ok: false; why: string }> {
    const sc = this.d.config.steps[step.id] as StepConfig;
    for (let attempt = 1; ; attempt++) {
      if (this.state.passFailures >= this.limits().maxFailuresPerAttempt) {
        return { ok: false, why: `${this.state.passFailures} failures in this pass (the recipe allows ${this.limits().maxFailuresPerAttempt})` };
      }
      const started = Date.now();
      let result: TryResult;
      try {
        result = await this.tryStep(step, sc);
      } catch (error) {
        result = { ok: false, errorCode: 'STATION_ERROR', message: (error as Error).message, tools: [], retry: false };
      }
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      if (result.ok) {
        this.record(result.type, { ...result.data, durationMs: Date.now() - started });
        this.log.push(`${step.id} ${result.summary} ${seconds}s`);
        return { ok: true };
      }
      if (!result.recorded) {
        this.record('StepFailed', {
          serial: this.serial,
          step: step.id,
          operator: this.operator,
          ...(this.d.config.fixture ? { fixture: this.d.config.fixture } : {}),
          durationMs: Date.now() - started,
          tools: result.tools,
          errorCode: result.errorCode,
          message: result.message.slice(0, 2000),
          attempt: this.state.attempt,
          try: Math.min(attempt, 64),
        });
      }
      this.log.push(`${step.id} ${result.errorCode}`);
      if (!result.retry || attempt >= sc.tries) return { ok: false, why: `${step.id} ${result.errorCode}: ${result.message.split('\n')[0]?.slice(0, 200) ?? ''}` };
    }
  }

  private base(step: RecipeStep, tools: ToolRunEvidence[]) {
    return { serial: this.serial, step: step.id, operator: this.operator, ...(this.d.config.fixture ? { fixture: this.d.config.fixture } : {}), tools };
  }

  private vars(step: RecipeStep, extra: Record<string, string> = {}): Map<string, string> {
    const c = this.d.config;
    const v = new Map<string, string>([
      ['port', c.ports.console?.path ?? ''],
      ['baud', String(c.ports.console?.baudRate ?? 115200)],
      ['serial', this.serial],
      ['mac', this.state.mac ?? ''],
      ['chipId', this.state.chipId ?? ''],
    ]);
    for (const image of this.d.release.images) {
      const path = c.images[image.name];
      if (path) v.set(`image:${image.name}`, path);
      v.set(`size:${image.name}`, String(image.sizeBytes));
      v.set(`offset:${image.name}`, `0x${image.offset.toString(16)}`);
      v.set(`out:${image.name}`, join(this.tmp, `${step.id}-${image.name}.bin`));
    }
    const provisioned = c.steps[step.id]?.provisionedImage;
    if (provisioned) v.set(`out:${provisioned.name}`, join(this.tmp, `${step.id}-${provisioned.name}.bin`));
    for (const [name, path] of Object.entries(c.secrets)) v.set(`secret:${name}`, path);
    for (const [k, value] of Object.entries(extra)) v.set(k, value);
    return v;
  }

  /** Runs the step's tools in order with the device port released; stops at the first that fails. */
  private async tools(step: RecipeStep, sc: StepConfig, vars: Map<string, string>): Promise<{ results: ToolResult[]; evidence: ToolRunEvidence[]; failed: ToolResult | null; mark: number }> {
    const results: ToolResult[] = [];
    const evidence: ToolRunEvidence[] = [];
    let failed: ToolResult | null = null;
    let mark = 0;
    for (const run of sc.run) {
      // The recipe's eFuses, as NAME VALUE pairs: the tool burns exactly what the event will say.
      const fuses = step.kind === 'burn' || step.kind === 'lock' ? step.fuses.flatMap((f) => [f.name, f.value]) : [];
      // The port is opened again after a tool only where the device's output is read: the boot log.
      const listen = step.kind === 'verify' && step.method === 'boot_log_elf_sha256';
      const released = await this.d.device.release(() => runTool(run, vars, new Map([['fuses', fuses]])), listen);
      const r = released.result;
      mark = released.mark;
      results.push(r);
      const stdout = this.d.evidence.keep(r.stdout);
      const stderr = this.d.evidence.keep(r.notRun ? Buffer.concat([r.stderr, Buffer.from(r.notRun + '\n')]) : r.stderr);
      const version = toolVersion(r.stdout.toString('utf8'));
      evidence.push({ program: r.program.slice(0, 200), ...(version ? { version } : {}), exitCode: r.exitCode ?? -1, stdoutSha256: stdout, stderrSha256: stderr, durationMs: r.durationMs });
      if (r.exitCode !== 0 || r.timedOut || r.notRun) {
        failed = r;
        break;
      }
    }
    return { results, evidence, failed, mark };
  }

  private toolFailure(step: RecipeStep, sc: StepConfig, failed: ToolResult, evidence: ToolRunEvidence[]): TryResult {
    // blhost exits 1 with the ROM's status as its only output: that status is the failure.
    const status = failed.program.startsWith('blhost') ? blhostStatus(failed.stdout.toString('utf8')) : null;
    if (status && status.code !== 0) return { ok: false, errorCode: 'ROM_REFUSED', message: `blhost: ${status.code} ${status.text}`, tools: evidence, retry: true };
    const errorCode = failed.notRun ? 'TOOL_NOT_RUN' : failed.timedOut ? 'TOOL_TIMEOUT' : 'TOOL_FAILED';
    const timeout = sc.run.find((r) => r.command[0] !== undefined && failed.argv[0] !== undefined)?.timeoutMs;
    const message = failed.notRun ?? (failed.timedOut ? `${failed.program} timed out after ${timeout ?? '?'} ms` : `${failed.program} exited ${String(failed.exitCode)}: ${failureSummary(failed.stdout.toString('utf8'), failed.stderr.toString('utf8'))}`);
    void step;
    return { ok: false, errorCode, message, tools: evidence, retry: true };
  }

  private async tryStep(step: RecipeStep, sc: StepConfig): Promise<TryResult> {
    if (IRREVERSIBLE.has(step.kind)) {
      const refused = await this.gate(step);
      if (refused) return { ok: false, errorCode: 'EFUSE_GATE_REFUSED', message: refused, tools: [], retry: false };
    }
    const extra: Record<string, string> = {};
    let rendered: string | null = null;
    let template: string | null = null;
    if (step.kind === 'provision') {
      template = readFileSync(this.d.config.templates[step.templateId] as string, 'utf8');
      rendered = template.replaceAll('{serial}', this.serial).replaceAll('{mac}', this.state.mac ?? '').replaceAll('{chipId}', this.state.chipId ?? '');
      const file = join(this.tmp, `${this.serial}.csv`);
      writeFileSync(file, rendered, { mode: 0o600 });
      extra['config'] = file;
    }
    const vars = this.vars(step, extra);
    const { results, evidence, failed, mark } = await this.tools(step, sc, vars);
    if (failed) return this.toolFailure(step, sc, failed, evidence);
    const stdout = results.map((r) => r.stdout.toString('utf8'));
    const all = stdout.join('\n');
    const base = this.base(step, evidence);

    switch (step.kind) {
      case 'identity': {
        let chipType: string | undefined;
        let chipId: string | null = null;
        let mac: string | null = null;
        for (const text of stdout) {
          const id = parseIdentity(text);
          chipType = id.chipType ?? chipType;
          chipId = id.chipId ?? chipId;
          mac = id.mac ?? mac;
        }
        if (chipId === null && mac === null) return { ok: false, errorCode: 'IDENTITY_NOT_REPORTED', message: 'the tool printed neither a chip id nor a MAC', tools: evidence, retry: true };
        if (mac !== null && this.state.mac !== null && mac !== this.state.mac) return { ok: false, errorCode: 'IDENTITY_CHANGED', message: `the device reports MAC ${mac}, the unit had ${this.state.mac}: another board in the fixture?`, tools: evidence, retry: false };
        if (chipId !== null && this.state.chipId !== null && chipId !== this.state.chipId) return { ok: false, errorCode: 'IDENTITY_CHANGED', message: `the device reports chip id ${chipId}, the unit had ${this.state.chipId}`, tools: evidence, retry: false };
        return { ok: true, type: 'IdentityRead', data: { ...base, ...(chipType ? { chipType: chipType.slice(0, 200) } : {}), chipId, mac }, summary: mac ?? chipId ?? '' };
      }
      case 'burn':
      case 'lock': {
        for (const r of results) {
          const text = r.stdout.toString('utf8');
          if (r.program.startsWith('espefuse') && !espefuseBurnConfirmed(text)) return { ok: false, errorCode: 'BURN_NOT_CONFIRMED', message: `${r.program} did not confirm the burn (no "Successful.")`, tools: evidence, retry: true };
          const status = r.program.startsWith('blhost') ? blhostStatus(text) : null;
          if (status && status.code !== 0) return { ok: false, errorCode: 'ROM_REFUSED', message: `blhost: ${status.code} ${status.text}`, tools: evidence, retry: true };
        }
        if (step.kind === 'burn') return { ok: true, type: 'EfuseBurned', data: { ...base, fuses: step.fuses, keys: step.keys }, summary: 'burned' };
        const images = step.images.map((name) => this.writtenImage(name));
        return { ok: true, type: 'UnitLocked', data: { ...base, fuses: step.fuses, images }, summary: 'LOCKED' };
      }
      case 'write': {
        const reported = results.filter((r) => r.program.startsWith('esptool')).flatMap((r) => parseWriteFlash(r.stdout.toString('utf8')));
        for (const name of step.images) {
          const image = imageOf(this.d.release, name);
          if (reported.length > 0 && image && !reported.some((w) => w.address === image.offset && w.verified)) {
            return { ok: false, errorCode: 'WRITE_NOT_CONFIRMED', message: `esptool did not report ${name} written and hash-verified at 0x${image.offset.toString(16)}`, tools: evidence, retry: true };
          }
        }
        for (const r of results) {
          const status = r.program.startsWith('blhost') ? blhostStatus(r.stdout.toString('utf8')) : null;
          if (status && status.code !== 0) return { ok: false, errorCode: 'ROM_REFUSED', message: `blhost: ${status.code} ${status.text}`, tools: evidence, retry: true };
        }
        return { ok: true, type: 'ImagesWritten', data: { ...base, images: step.images.map((n) => this.writtenImage(n)) }, summary: 'written' };
      }
      case 'verify':
        return this.verify(step, vars, results, evidence, mark);
      case 'provision': {
        const image = sc.provisionedImage ? this.fileImage(sc.provisionedImage.name, vars.get(`out:${sc.provisionedImage.name}`) as string, sc.provisionedImage.offset) : null;
        if (sc.provisionedImage && !image) return { ok: false, errorCode: 'PROVISIONING_FAILED', message: `no ${sc.provisionedImage.name} image was produced`, tools: evidence, retry: true };
        const sha = (s: string) => createHash('sha256').update(s).digest('hex');
        return {
          ok: true,
          type: 'ProvisioningApplied',
          data: { ...base, templateId: step.templateId, templateSha256: sha(template ?? ''), configSha256: sha(rendered ?? ''), ...(image ? { image } : {}) },
          summary: 'provisioned',
        };
      }
      case 'security_state': {
        const fields = new Map<string, FieldValue>();
        const reported = new Set<string>();
        for (const text of stdout) {
          const f = parseSecurityState(text);
          if (f) for (const [k, v] of f) fields.set(k, v);
          for (const name of securityFieldNames(text)) reported.add(name);
        }
        if (fields.size === 0) return { ok: false, errorCode: 'SECURITY_STATE_NOT_REPORTED', message: 'the tool printed no security state the station can read', tools: evidence, retry: true };
        const checks = step.expect.map((e) => {
          const actual = fields.get(e.field) ?? null;
          return { field: e.field, equals: e.equals, actual: typeof actual === 'string' ? actual.slice(0, 200) : actual, met: actual === e.equals };
        });
        const names = [...new Set([...step.expect.map((e) => e.field), ...reported, ...[...fields.keys()].filter((k) => !k.includes('.') && !reported.size)])].filter((k) => fields.has(k)).slice(0, 160);
        const record = names.map((name) => {
          const value = fields.get(name) as FieldValue;
          return { name, value: typeof value === 'string' ? value.slice(0, 200) : value };
        });
        const result = checks.every((c) => c.met) ? 'pass' : 'fail';
        if (result === 'fail') {
          const unmet = checks.filter((c) => !c.met).map((c) => `${c.field}=${JSON.stringify(c.actual)} (expected ${JSON.stringify(c.equals)})`);
          // A read that does not show what was burned is a failed try, recorded as the read itself.
          this.record('SecurityStateRead', { ...base, durationMs: 0, fields: record, checks, result });
          return { ok: false, errorCode: 'SECURITY_STATE_MISMATCH', message: `the device reports ${unmet.join(', ')}`, tools: evidence, retry: true, recorded: true };
        }
        void all;
        return { ok: true, type: 'SecurityStateRead', data: { ...base, fields: record, checks, result }, summary: 'as expected' };
      }
    }
  }

  private fileImage(name: string, path: string, offset: number): { name: string; offset: number; sha256: string; sizeBytes: number } | null {
    try {
      const data = readFileSync(path);
      if (data.length === 0) return null;
      return { name, offset, sha256: createHash('sha256').update(data).digest('hex'), sizeBytes: data.length };
    } catch {
      return null;
    }
  }

  /** An image as the station handed it to the tool: its own file's digest, at the release's offset. */
  private writtenImage(name: string) {
    const image = imageOf(this.d.release, name);
    const path = this.d.config.images[name] as string;
    const written = this.fileImage(name, path, image?.offset ?? 0);
    if (!written) throw new Error(`cannot read images.${name} (${path})`);
    return written;
  }

  private async verify(step: Extract<RecipeStep, { kind: 'verify' }>, vars: Map<string, string>, results: ToolResult[], evidence: ToolRunEvidence[], mark: number): Promise<TryResult> {
    const base = this.base(step, evidence);
    const release = this.d.release;
    if (step.method === 'readback_sha256') {
      const images = [];
      for (const name of step.images) {
        const image = imageOf(release, name);
        if (!image) throw new Error(`release has no image ${name}`);
        let data: Buffer;
        try {
          data = readFileSync(vars.get(`out:${name}`) as string);
        } catch {
          return { ok: false, errorCode: 'READBACK_MISSING', message: `the tool wrote no read-back of ${name}`, tools: evidence, retry: true };
        }
        if (data.length < image.sizeBytes) return { ok: false, errorCode: 'READBACK_SHORT', message: `the read-back of ${name} is ${data.length} bytes, the image ${image.sizeBytes}`, tools: evidence, retry: true };
        const reported = createHash('sha256').update(data.subarray(0, image.sizeBytes)).digest('hex');
        images.push({ name, expected: image.sha256, reported, comparedChars: 64, result: reported === image.sha256 ? 'pass' : 'fail' });
      }
      return this.verified(step, base, images, undefined);
    }
    if (step.method === 'tool_compare') {
      const compared = results.flatMap((r) => parseVerifyFlash(r.stdout.toString('utf8')));
      const images = [];
      for (const name of step.images) {
        const image = imageOf(release, name);
        const c = compared.find((x) => x.address === image?.offset);
        if (!image || !c) return { ok: false, errorCode: 'VERIFY_NOT_REPORTED', message: `the tool reported no comparison of ${name}`, tools: evidence, retry: true };
        if (!c.matched) return { ok: false, errorCode: 'FLASH_MISMATCH', message: `${name} at 0x${image.offset.toString(16)}: Verification failed (digest mismatch)`, tools: evidence, retry: true };
        images.push({ name, expected: image.sha256, reported: this.writtenImage(name).sha256, comparedChars: 64, result: 'pass' });
      }
      return this.verified(step, base, images, undefined);
    }
    // The boot log: the tools reset the device; the port is open again; the application prints its ELF hash.
    const device = this.d.device;
    const pattern = new RegExp(this.d.config.bootLog.pattern ?? ELF_SHA_PATTERN);
    const started = Date.now();
    const first = await device.collect(mark, (ls) => ls.some((l) => pattern.test(l)), this.d.config.bootLog.timeoutMs);
    const timedOut = first.timedOut;
    // The security lines come after the ELF hash (ESP-IDF prints "Flash encryption mode is RELEASE" during the
    // application's startup): read on to the end of the startup, within what is left of the timeout and at
    // most END_OF_STARTUP_WAIT_MS, so that a loaded machine pausing between lines does not cut the evidence short.
    const lines = timedOut
      ? first.lines
      : (await device.collect(mark, (ls) => ls.some((l) => END_OF_STARTUP.test(l)), Math.max(0, Math.min(END_OF_STARTUP_WAIT_MS, this.d.config.bootLog.timeoutMs - (Date.now() - started))))).lines;
    const captured = this.d.evidence.keep(lines.join('\n') + (lines.length > 0 ? '\n' : ''));
    if (timedOut) {
      const why = device.openError ? `the device port could not be opened after the reset: ${device.openError}` : `no line matching /${pattern.source}/ on the device port within ${this.d.config.bootLog.timeoutMs} ms (${lines.length} lines, evidence ${captured.slice(0, 12)}…)`;
      await device.close();
      return { ok: false, errorCode: 'BOOT_LOG_TIMEOUT', message: why, tools: evidence, retry: true };
    }
    await device.close();
    const log = parseBootLog(lines, pattern);
    const prefix = log.elfSha256Prefix as string;
    const images = step.images.map((name) => {
      const expected = imageOf(release, name)?.elfSha256 as string;
      return { name, expected, reported: prefix, comparedChars: prefix.length, result: expected.startsWith(prefix) ? 'pass' : 'fail' };
    });
    const bootLog = {
      sha256: captured,
      lines: lines.length,
      ...(log.idfVersion ? { idfVersion: log.idfVersion.slice(0, 200) } : {}),
      ...(log.appVersion ? { appVersion: log.appVersion.slice(0, 200) } : {}),
      ...(log.projectName ? { projectName: log.projectName.slice(0, 200) } : {}),
      ...(log.secureBoot ? { secureBoot: log.secureBoot } : {}),
      ...(log.flashEncryption ? { flashEncryption: log.flashEncryption } : {}),
    };
    return this.verified(step, base, images, bootLog);
  }

  private verified(step: RecipeStep, base: ReturnType<UnitRun['base']>, images: { name: string; expected: string; reported: string; comparedChars: number; result: string }[], bootLog: Record<string, unknown> | undefined): TryResult {
    const method = step.kind === 'verify' ? step.method : 'readback_sha256';
    const pass = images.every((i) => i.result === 'pass');
    const data = { ...base, method, images, result: pass ? 'pass' : 'fail', ...(bootLog ? { bootLog } : {}) };
    if (pass) {
      const chars = images[0]?.comparedChars ?? 64;
      return { ok: true, type: 'ImagesVerified', data, summary: chars < 64 ? `ELF ${images[0]?.reported ?? ''}… (${chars} chars)` : 'matches release' };
    }
    // A verification that failed is recorded as such (what the device reported), and counts as the failed try.
    this.record('ImagesVerified', { ...data, durationMs: 0 });
    const bad = images.find((i) => i.result === 'fail');
    const errorCode = method === 'boot_log_elf_sha256' ? 'ELF_HASH_MISMATCH' : 'IMAGE_MISMATCH';
    return { ok: false, errorCode, message: `the device reports ${bad?.name ?? '?'} ${bad?.reported.slice(0, 16) ?? '?'}…, the release ${bad?.expected.slice(0, bad.comparedChars).slice(0, 16) ?? '?'}…`, tools: base.tools, retry: true, recorded: true };
  }

  /**
   * Why an irreversible step must not run now, or null when it may: the ledger accepted its StepStarted, or
   * (unreachable, with gate.offline = local) the station's own record of the unit is whole.
   */
  private async gate(step: RecipeStep): Promise<string | null> {
    const stream = unitStream(this.serial);
    const rejected = this.d.outbox.rejectedIn(stream);
    if (rejected > 0) return `the ledger refused ${rejected} event(s) of this unit (flashtrail station status lists them)`;
    const eventId = this.record('StepStarted', { serial: this.serial, step: step.id, operator: this.operator, ...(this.d.config.fixture ? { fixture: this.d.config.fixture } : {}) });
    const timeout = new Promise<{ state: 'pending'; reason: string }>((resolve) => setTimeout(() => resolve({ state: 'pending', reason: `no answer within ${this.d.config.gate.timeoutMs} ms` }), this.d.config.gate.timeoutMs).unref());
    const delivery = await Promise.race([this.d.sender.deliver(eventId), timeout]);
    if (delivery.state === 'delivered') return null;
    if (delivery.state === 'rejected') return `the ledger refused ${step.id}: ${delivery.reason}`;
    if (this.d.config.gate.offline === 'local' && this.d.sender.connection === 'unreachable') {
      this.d.out(`WARNING ${this.serial}: the ledger is unreachable; ${step.id} runs on this station's own evidence (gate.offline = local)`);
      return null;
    }
    return `the ledger did not confirm ${step.id} (${delivery.reason}); gate.offline is "${this.d.config.gate.offline}"`;
  }
}
