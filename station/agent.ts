/**
 * The station agent at the line: reads the scanner, runs each scanned unit through its batch's recipe
 * (station/unit-run.ts), and tells the operator the outcome in one line per unit. Scanner lines that start
 * with `FT:` are operator commands, printed as barcodes on the station's card:
 *
 *   FT:LOGIN:<badge>              the operator of this shift; every event names them
 *   FT:LOGOUT
 *   FT:REWORK:<serial>            the unit was reworked; it is scanned again for its next pass
 *   FT:SCRAP:<serial>:<reason>    the unit is scrapped
 *   FT:ORDER:<customer>:<order>   (packing station) the order the next scanned units ship under
 *
 * A packing station ships every unit scanned, a repair station only takes the rework and scrap commands.
 */
import type { EventSigner } from '../src/event/signer.ts';
import type { LedgerClient } from '../src/client/ledger-client.ts';
import { Identifier, ShortText } from '../schemas/common.ts';
import { recipeComplete, type RecipeRelease } from '../src/domain/recipe.ts';
import type { StationConfig } from './config.ts';
import type { Outbox } from './outbox.ts';
import type { Sender } from './sender.ts';
import type { DevicePort, LineSource } from './serial.ts';
import type { EvidenceStore } from './evidence.ts';
import { UnitRun, type UnitOutcome } from './unit-run.ts';
import { unitHistory } from './unit-history.ts';
import { describeDelivery, LifecycleError, recordLifecycle, type LifecycleAction } from './lifecycle.ts';
import { runTool } from './tools.ts';
import { failureSummary } from './tool-output.ts';

export interface AgentDeps {
  readonly config: StationConfig;
  readonly release: RecipeRelease;
  readonly batch: { readonly batchId: string; readonly productSku: string };
  readonly signer: EventSigner;
  readonly client: () => LedgerClient;
  readonly outbox: Outbox;
  readonly sender: Sender;
  readonly scanner: LineSource;
  readonly device: DevicePort | null;
  readonly evidence: EvidenceStore;
  readonly clock: () => Date;
  readonly out: (line: string) => void;
}

export class StationAgent {
  private busy: Promise<void> = Promise.resolve();
  private operator: string | null;
  private order: { customer: string; orderRef: string } | null;

  constructor(private readonly d: AgentDeps) {
    this.operator = d.config.operator ?? null;
    this.order = d.config.shipping ?? null;
  }

  start(): void {
    this.d.scanner.onLine((raw) => {
      const line = raw.trim();
      if (line === '') return;
      this.busy = this.busy.then(() => this.handle(line)).catch((error: unknown) => this.d.out(`ERROR ${(error as Error).message}`));
    });
    const c = this.d.config;
    const what = c.role === 'flash' ? `recipe ${this.d.release.recipe.id}, ${this.d.release.recipe.steps.length} steps` : c.role === 'pack' ? 'packing: scanned units ship' : 'repair: rework and scrap';
    this.d.out(`station ${c.stationId} ready: batch ${this.d.batch.batchId}, release ${this.d.release.releaseId} (${what}); ${this.operator ? `operator ${this.operator}` : 'scan your badge (FT:LOGIN:<id>)'}, then a unit`);
  }

  /** Resolves when every scan so far has been handled. */
  idle(): Promise<void> {
    return this.busy;
  }

  private async handle(line: string): Promise<void> {
    if (line.startsWith('FT:')) return this.command(line);
    const serial = Identifier.safeParse(line);
    if (!serial.success) {
      this.d.out(`ignored scan ${JSON.stringify(line.slice(0, 80))}: not a valid serial number`);
      return;
    }
    if (this.operator === null) {
      this.d.out(`${line}: not started: no operator is logged in at ${this.d.config.stationId}; scan your badge (FT:LOGIN:<id>)`);
      return;
    }
    if (this.d.config.role === 'pack') return this.ship(serial.data);
    if (this.d.config.role === 'repair') {
      this.d.out(`${line}: a repair station records rework and scrap: scan FT:REWORK:${line} or FT:SCRAP:${line}:<reason>`);
      return;
    }
    await this.flash(serial.data);
  }

  private async command(line: string): Promise<void> {
    const [, verb, ...rest] = line.split(':');
    const arg = rest.join(':');
    switch (verb) {
      case 'LOGIN': {
        const badge = ShortText.safeParse(arg);
        if (!badge.success || arg.trim() !== arg) return this.d.out(`ignored ${JSON.stringify(line.slice(0, 80))}: a badge id is 1-200 characters`);
        this.operator = badge.data;
        return this.d.out(`operator ${this.operator} logged in at ${this.d.config.stationId}`);
      }
      case 'LOGOUT':
        this.d.out(`operator ${this.operator ?? '(none)'} logged out`);
        this.operator = null;
        return;
      case 'REWORK':
      case 'SCRAP': {
        const [serial, ...why] = rest;
        const reason = why.join(':') || `${verb === 'REWORK' ? 'reworked' : 'scrapped'} at ${this.d.config.stationId}`;
        if (!serial || !Identifier.safeParse(serial).success) return this.d.out(`ignored ${JSON.stringify(line.slice(0, 80))}: FT:${verb}:<serial>${verb === 'SCRAP' ? ':<reason>' : ''}`);
        return this.lifecycle(serial, verb === 'REWORK' ? { type: 'UnitReworked', reason } : { type: 'UnitScrapped', reason });
      }
      case 'ORDER': {
        const [customer, orderRef] = [rest[0] ?? '', rest.slice(1).join(':')];
        if (!ShortText.safeParse(customer).success || !ShortText.safeParse(orderRef).success) return this.d.out(`ignored ${JSON.stringify(line.slice(0, 80))}: FT:ORDER:<customer>:<order ref>`);
        this.order = { customer, orderRef };
        return this.d.out(`units scanned now ship to ${customer}, order ${orderRef}`);
      }
      default:
        this.d.out(`ignored ${JSON.stringify(line.slice(0, 80))}: unknown command (FT:LOGIN, FT:LOGOUT, FT:REWORK, FT:SCRAP, FT:ORDER)`);
    }
    void arg;
  }

  private async lifecycle(serial: string, action: LifecycleAction): Promise<void> {
    if (this.operator === null) return this.d.out(`${serial}: no operator is logged in; scan your badge first`);
    try {
      const { delivery } = await recordLifecycle(this.d, serial, this.operator, action);
      this.d.out(describeDelivery(serial, action.type, delivery));
    } catch (error) {
      if (!(error instanceof LifecycleError)) throw error;
      this.d.out(error.message);
    }
  }

  private async ship(serial: string): Promise<void> {
    if (!this.order) return this.d.out(`${serial}: not shipped: no order is set; scan FT:ORDER:<customer>:<order ref>`);
    await this.lifecycle(serial, { type: 'UnitShipped', ...this.order });
  }

  private async flash(serial: string): Promise<UnitOutcome | null> {
    const operator = this.operator as string;
    const history = await unitHistory(serial, this.d.client(), this.d.outbox);
    const s = history.state;
    const refuse = (why: string) => {
      this.d.out(`${serial}  not started: ${why}`);
      return null;
    };
    if (s.model === 'fixed') return refuse(`the ledger has this unit on the fixed sequence of a version 1 release`);
    if (s.status === 'shipped' || s.status === 'scrapped') return refuse(`the unit is ${s.status}`);
    if (s.status === 'locked' || recipeComplete(this.d.release.recipe, s.progress)) return refuse(`the unit ${s.status === 'locked' ? 'is locked' : 'has done every step of its recipe'}: take it to packing`);
    if (s.batchId !== null && s.batchId !== this.d.batch.batchId) return refuse(`the unit belongs to batch ${s.batchId}`);
    const ownPass = s.station === this.d.config.stationId && (s.status === 'scanned' || s.status === 'in_progress');
    if ((s.status === 'scanned' || s.status === 'in_progress') && !ownPass) {
      return refuse(`the unit is in progress at station ${s.station ?? '?'}; rework it first (FT:REWORK:${serial})`);
    }
    if (ownPass && s.passFailures > 0) {
      return refuse(`pass ${s.attempt} of this unit failed here; rework it first (FT:REWORK:${serial}), then scan it again`);
    }
    if (!history.fromLedger) this.d.out(`${serial}: the ledger is unreachable; going by this station's own record of the unit`);
    const run = new UnitRun({ ...this.d, batchId: this.d.batch.batchId, productSku: this.d.batch.productSku, device: this.d.device as DevicePort }, serial, operator, s);
    const result = await run.run(!ownPass);
    const line = `${serial}  ${run.summary()}  ${result.outcome === 'pass' ? 'PASS' : `→ REWORK: ${result.why}`}`;
    this.d.out(line);
    if (result.outcome === 'pass') await this.afterPass(serial, run.unitState.mac, run.unitState.chipId);
    return result;
  }

  /** The configured hook after a pass (label printer, MES): its failure is reported, the unit still passed. */
  private async afterPass(serial: string, mac: string | null, chipId: string | null): Promise<void> {
    const hook = this.d.config.afterPass;
    if (!hook) return;
    const vars = new Map([
      ['serial', serial],
      ['mac', mac ?? ''],
      ['chipId', chipId ?? ''],
      ['release', this.d.release.releaseId],
      ['batch', this.d.batch.batchId],
    ]);
    const r = await runTool(hook, vars);
    if (r.exitCode === 0) this.d.out(`${serial}: after-pass hook ${r.program} done`);
    else this.d.out(`${serial}: WARNING after-pass hook ${r.program} failed: ${r.notRun ?? failureSummary(r.stdout.toString(), r.stderr.toString())}`);
  }
}
