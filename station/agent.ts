/**
 * The station agent: for every scanned serial, runs the flash steps in the signed-firmware order, verifies
 * what the device runs on its console, and records each step as a signed event in the durable outbox before
 * telling the operator. It refuses to burn eFuses unless the application was verified against the batch's
 * release. Dependencies come in; station/main.ts wires them.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EventOf, EventType } from '../schemas/index.ts';
import { Identifier } from '../schemas/common.ts';
import type { EventSigner } from '../src/event/signer.ts';
import type { LedgerClient } from '../src/client/ledger-client.ts';
import { LedgerClientError } from '../src/client/ledger-client.ts';
import { unitStream } from '../src/event/streams.ts';
import type { StationConfig } from './config.ts';
import type { Outbox } from './outbox.ts';
import type { Sender } from './sender.ts';
import type { LineSource } from './serial.ts';
import { runTool, type ToolResult } from './tools.ts';

export interface ReleaseExpectation {
  readonly releaseId: string;
  readonly applicationSha256: string;
  readonly bootloaderSha256: string;
}

export interface AgentDeps {
  readonly config: StationConfig;
  readonly signer: EventSigner;
  readonly client: LedgerClient;
  readonly outbox: Outbox;
  readonly sender: Sender;
  readonly scanner: LineSource;
  readonly console: LineSource;
  readonly clock: () => Date;
  readonly out: (line: string) => void;
}

export type UnitOutcome = 'pass' | 'rework';

const sha256File = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

export class StationAgent {
  private readonly queue: string[] = [];
  private busy: Promise<void> = Promise.resolve();
  private release: ReleaseExpectation | null = null;
  private readonly images: { bootloader: { sha256: string; size: number }; application: { sha256: string; size: number } };

  constructor(private readonly d: AgentDeps) {
    const size = (p: string) => readFileSync(p).length;
    this.images = {
      bootloader: { sha256: sha256File(d.config.images.bootloader.path), size: size(d.config.images.bootloader.path) },
      application: { sha256: sha256File(d.config.images.application.path), size: size(d.config.images.application.path) },
    };
  }

  /** Learns the batch's release from the ledger (cached for offline restarts) and starts listening to the scanner. */
  async start(): Promise<void> {
    await this.loadRelease();
    const r = this.release;
    if (r && r.applicationSha256 !== this.images.application.sha256) {
      this.d.out(`WARNING: the configured application image (${this.images.application.sha256.slice(0, 12)}…) is not release ${r.releaseId}'s (${r.applicationSha256.slice(0, 12)}…): eFuse burns will be refused`);
    }
    this.d.scanner.onLine((line) => {
      const serial = line.trim();
      if (serial === '') return;
      if (!Identifier.safeParse(serial).success) {
        this.d.out(`ignored scan ${JSON.stringify(serial.slice(0, 80))}: not a valid serial number`);
        return;
      }
      this.queue.push(serial);
      this.busy = this.busy.then(() => this.next());
    });
    this.d.out(`station ${this.d.config.stationId} ready: batch ${this.d.config.batchId}, release ${r?.releaseId ?? 'unknown (ledger not reached yet)'}; scan a unit`);
  }

  /** Resolves when every scanned unit so far has been processed. */
  idle(): Promise<void> {
    return this.busy;
  }

  private async next(): Promise<void> {
    const serial = this.queue.shift();
    if (serial) await this.flashUnit(serial);
  }

  private async loadRelease(): Promise<void> {
    try {
      const batch = await this.d.client.get<{ batch: { releaseId: string } | null }>(`/v1/batches/${this.d.config.batchId}`);
      const releaseId = batch.batch?.releaseId;
      if (releaseId) {
        const r = await this.d.client.get<{ release: { releaseId: string; applicationSha256: string; bootloaderSha256: string } }>(`/v1/releases/${releaseId}`);
        this.release = { releaseId: r.release.releaseId, applicationSha256: r.release.applicationSha256, bootloaderSha256: r.release.bootloaderSha256 };
        this.d.outbox.setMeta(`release:${this.d.config.batchId}`, JSON.stringify(this.release));
        return;
      }
    } catch (error) {
      if (error instanceof LedgerClientError && error.status !== 404) throw error;
    }
    const cached = this.d.outbox.getMeta(`release:${this.d.config.batchId}`);
    this.release = cached ? (JSON.parse(cached) as ReleaseExpectation) : null;
  }

  /** Signs an event, chained to its stream's head, and commits it to the outbox before anything else. */
  private async record<T extends EventType>(type: T, data: EventOf<T>['data']): Promise<void> {
    const stream = unitStream((data as { serial: string }).serial);
    let prev = this.d.outbox.head(stream);
    if (prev === undefined) {
      // First event of this unit at this station: the unit may have history elsewhere on the line.
      try {
        const head = await this.d.client.get<{ digest: string | null }>(`/v1/streams/${stream}/head`);
        prev = head.digest;
      } catch {
        prev = null;
      }
    }
    const signed = this.d.signer.sign(type, data, { prev, occurredAt: this.d.clock() });
    this.d.outbox.enqueue(signed, this.d.clock());
    this.d.sender.poke();
  }

  private tool(step: keyof StationConfig['steps'], serial: string, extra: Record<string, string> = {}): Promise<ToolResult> {
    const c = this.d.config;
    const image = step === 'bootloader' ? c.images.bootloader.path : c.images.application.path;
    return runTool(c.steps[step], { serial, port: c.ports.console.path, image, ...extra });
  }

  private async toolFailed(serial: string, step: 'bootloader' | 'application' | 'provisioning' | 'efuse', result: ToolResult, attempt: number): Promise<string> {
    const errorCode = result.timedOut ? 'TOOL_TIMEOUT' : result.exitCode === null ? 'TOOL_NOT_RUN' : 'TOOL_FAILED';
    const message = `${step} tool ${result.timedOut ? `timed out after ${this.d.config.steps[step].timeoutMs} ms` : `exited ${String(result.exitCode)}`}: ${result.output.slice(-400)}`;
    await this.record('StepFailed', { serial, step, errorCode, message: message.slice(0, 2000), attempt });
    return `${step} ${errorCode}`;
  }

  async flashUnit(serial: string): Promise<UnitOutcome> {
    const c = this.d.config;
    const log: string[] = [];
    const done = (outcome: UnitOutcome, why?: string) => {
      this.d.out(`${serial}  ${log.join(' · ')}  ${outcome === 'pass' ? 'PASS' : `→ REWORK: ${why ?? 'see above'}`}`);
      return outcome;
    };
    const state = await this.unitState(serial);
    const attempt = state?.attempt ?? 1;
    if (state && !['new', 'reworked'].includes(state.status)) {
      return done('rework', `the ledger has this unit as ${state.status}; it cannot be flashed again here`);
    }
    await this.record('UnitScanned', { serial, batchId: c.batchId, station: c.stationId, operator: c.operator, productSku: c.productSku, hardwareRevision: c.hardwareRevision });
    log.push('scanned');

    const boot = await this.tool('bootloader', serial);
    if (!boot.ok) return done('rework', await this.toolFailed(serial, 'bootloader', boot, attempt));
    await this.record('BootloaderWritten', {
      serial,
      imageSha256: this.images.bootloader.sha256,
      version: c.images.bootloader.version,
      sizeBytes: this.images.bootloader.size,
      signingKeyRef: c.secureBoot.signingKeyRef,
      signingKeyDigest: c.secureBoot.signingKeyDigest,
    });
    log.push('bootloader ok');

    const mark = this.d.console.received;
    const app = await this.tool('application', serial);
    if (!app.ok) return done('rework', await this.toolFailed(serial, 'application', app, attempt));
    const match = await this.d.console.waitFor(new RegExp(c.verification.pattern), mark, c.verification.timeoutMs);
    if (!match) {
      await this.record('StepFailed', { serial, step: 'app_verify', errorCode: 'BOOT_LOG_TIMEOUT', message: `no line matching /${c.verification.pattern}/ on the console within ${c.verification.timeoutMs} ms`, attempt });
      return done('rework', 'the device printed no application hash (boot log timeout)');
    }
    const reported = (match[1] ?? '').toLowerCase();
    const expected = this.images.application.sha256;
    const pass = reported === expected;
    await this.record('AppVerified', {
      serial,
      imageSha256: expected,
      version: c.images.application.version,
      sizeBytes: this.images.application.size,
      reportedSha256: reported,
      method: 'device_report',
      result: pass ? 'pass' : 'fail',
    });
    if (!pass) {
      log.push(`app verification FAILED`);
      return done('rework', `the device runs ${reported.slice(0, 12)}…, not the image written (${expected.slice(0, 12)}…)`);
    }
    log.push(`app verified ${expected.slice(0, 12)}…`);

    const dir = mkdtempSync(join(tmpdir(), 'flashtrail-prov-'));
    let provisioned: ToolResult;
    let rendered: string;
    const templateText = readFileSync(c.provisioning.templatePath, 'utf8');
    try {
      rendered = templateText.replaceAll('{serial}', serial);
      const configFile = join(dir, `${serial}.cfg`);
      writeFileSync(configFile, rendered);
      provisioned = await this.tool('provisioning', serial, { config: configFile });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    if (!provisioned.ok) return done('rework', await this.toolFailed(serial, 'provisioning', provisioned, attempt));
    await this.record('ProvisioningApplied', {
      serial,
      templateId: c.provisioning.templateId,
      templateSha256: createHash('sha256').update(templateText).digest('hex'),
      configSha256: createHash('sha256').update(rendered).digest('hex'),
    });
    log.push('provisioned');

    const refusal = await this.efuseGate(serial, expected);
    if (refusal) {
      await this.record('StepFailed', { serial, step: 'efuse', errorCode: 'EFUSE_GATE_REFUSED', message: refusal, attempt });
      return done('rework', `eFuses NOT burned: ${refusal}`);
    }
    const burned = await this.tool('efuse', serial);
    if (!burned.ok) return done('rework', await this.toolFailed(serial, 'efuse', burned, attempt));
    await this.record('EfuseBurned', {
      serial,
      profile: c.efuse.profile,
      fuses: c.efuse.fuses,
      keyDigests: [c.secureBoot.signingKeyDigest],
      secureBoot: true,
      flashEncryption: c.efuse.flashEncryption,
    });
    log.push('eFuses burned');
    return done('pass');
  }

  /** Why the eFuses must not be burned, or null when they may. */
  private async efuseGate(serial: string, verifiedSha256: string): Promise<string | null> {
    if (!this.release) await this.loadRelease().catch(() => undefined);
    if (!this.release) return `the release of batch ${this.d.config.batchId} is unknown (the ledger was never reached)`;
    if (verifiedSha256 !== this.release.applicationSha256) {
      return `the verified application ${verifiedSha256.slice(0, 12)}… is not release ${this.release.releaseId}'s ${this.release.applicationSha256.slice(0, 12)}…`;
    }
    // Online, the ledger must agree that this unit is verified and provisioned; offline, the local check stands.
    if (await this.d.sender.flush()) {
      const state = await this.unitState(serial);
      if (state && state.status !== 'provisioned') return `the ledger has the unit as ${state.status}, not provisioned`;
    }
    return null;
  }

  private async unitState(serial: string): Promise<{ status: string; attempt: number } | null> {
    try {
      return await this.d.client.get<{ status: string; attempt: number }>(`/v1/units/${serial}`);
    } catch {
      return null;
    }
  }
}
