/**
 * The unit invariants a monitor checks over a ledger's log (issue 15), event by event in log order, from events
 * the caller has already verified (signature, key life, inclusion). Each violation is a coded finding with its
 * evidence. The state is plain JSON (toJSON / fromJSON), so that a monitor keeps it between runs and continues
 * from the last leaf it checked instead of reading the whole log again. Pure.
 *
 *   IDENTITY_CONFLICT    a serial reported with two chip ids or MACs, or a chip id or MAC reported on two serials
 *   EVENT_AFTER_SCRAP    any event of a unit after its UnitScrapped
 *   EVENT_AFTER_SHIP     an event of a shipped unit that is not a field update (FirmwareUpdated)
 *   BATCH_OVER_PLANNED   a batch with more distinct units scanned into it than its BatchOpened plannedQuantity
 *   UNIT_IN_TWO_BATCHES  a serial scanned into a second batch (the ledger's decider refuses it, so only an entry
 *                        written past it, by an insider, can make one)
 *   IMAGE_NOT_APPROVED   a device-reported image digest that the unit's approved release does not name
 *                        (v1: AppVerified reportedSha256 vs applicationSha256; recipe model: ImagesVerified
 *                        `reported` vs the release image's sha256, or elfSha256 for boot_log_elf_sha256;
 *                        FirmwareUpdated images vs its toReleaseId)
 */
import type { LedgerEvent } from '../../schemas/index.ts';

export type InvariantCode = 'IDENTITY_CONFLICT' | 'EVENT_AFTER_SCRAP' | 'EVENT_AFTER_SHIP' | 'BATCH_OVER_PLANNED' | 'UNIT_IN_TWO_BATCHES' | 'IMAGE_NOT_APPROVED';

/** Where an event is: what every finding's evidence names. */
export interface EventRef {
  readonly leafIndex: number;
  readonly eventId: string;
  readonly eventType: string;
}

export interface InvariantFinding {
  readonly code: InvariantCode;
  readonly serial: string;
  readonly message: string;
  readonly evidence: Readonly<Record<string, unknown>> & { readonly event: EventRef };
}

interface UnitFacts {
  batchId: string | null;
  /** The UnitScanned that put the unit in `batchId` (absent in a state kept before this was recorded). */
  batchAt?: EventRef;
  releaseId: string | null;
  chipId: { value: string; at: EventRef } | null;
  mac: { value: string; at: EventRef } | null;
  scrapped: EventRef | null;
  shipped: EventRef | null;
}

export interface InvariantState {
  readonly version: 1;
  /** releaseId → image name → approved digests (sha256, and elf:sha256 where the release has one). */
  releases: Record<string, Record<string, string[]>>;
  batches: Record<string, { releaseId: string; planned: number; units: number; at: EventRef }>;
  units: Record<string, UnitFacts>;
  chipIds: Record<string, { serial: string; at: EventRef }>;
  macs: Record<string, { serial: string; at: EventRef }>;
}

const refOf = (event: LedgerEvent, leafIndex: number): EventRef => ({ leafIndex, eventId: event.id, eventType: event.type });

export class UnitInvariants {
  private constructor(private readonly s: InvariantState) {}

  static empty(): UnitInvariants {
    return new UnitInvariants({ version: 1, releases: {}, batches: {}, units: {}, chipIds: {}, macs: {} });
  }

  /** A state kept by toJSON; throws on anything else (the caller names the file). */
  static fromJSON(value: unknown): UnitInvariants {
    const v = value as Partial<InvariantState> | null;
    if (!v || typeof v !== 'object' || v.version !== 1 || [v.releases, v.batches, v.units, v.chipIds, v.macs].some((m) => !m || typeof m !== 'object' || Array.isArray(m))) {
      throw new TypeError('not a version 1 unit invariant state');
    }
    return new UnitInvariants(structuredClone(v as InvariantState));
  }

  toJSON(): InvariantState {
    return this.s;
  }

  /** The next event of the log (leaf indices ascending); returns the findings it raises. */
  observe(event: LedgerEvent, leafIndex: number): InvariantFinding[] {
    const at = refOf(event, leafIndex);
    if (event.type === 'ReleaseApproved') {
      const d = event.data;
      const images: Record<string, string[]> = {};
      if ('images' in d) for (const i of d.images) images[i.name] = [i.sha256, ...(i.elfSha256 ? [`elf:${i.elfSha256}`] : [])];
      else Object.assign(images, { bootloader: [d.bootloaderSha256], application: [d.applicationSha256] });
      this.s.releases[d.releaseId] = images;
      return [];
    }
    if (event.type === 'BatchOpened') {
      this.s.batches[event.data.batchId] = { releaseId: event.data.releaseId, planned: event.data.plannedQuantity, units: 0, at };
      return [];
    }
    if (event.source.kind !== 'station') return [];
    const serial = (event.data as { serial: string }).serial;
    const findings: InvariantFinding[] = [];
    const found = (code: InvariantCode, message: string, evidence: Record<string, unknown> = {}) => findings.push({ code, serial, message: `unit ${serial}: ${message}`, evidence: { ...evidence, event: at } });
    const unit = (this.s.units[serial] ??= { batchId: null, releaseId: null, chipId: null, mac: null, scrapped: null, shipped: null });

    if (unit.scrapped) found('EVENT_AFTER_SCRAP', `${event.type} at leaf ${leafIndex} after its UnitScrapped at leaf ${unit.scrapped.leafIndex}`, { scrapped: unit.scrapped });
    else if (unit.shipped && event.type !== 'FirmwareUpdated') found('EVENT_AFTER_SHIP', `${event.type} at leaf ${leafIndex} after its UnitShipped at leaf ${unit.shipped.leafIndex}, and not a field update`, { shipped: unit.shipped });

    const e = event as LedgerEvent;
    if (e.type === 'UnitScanned') {
      const batchId = e.data.batchId;
      if (unit.batchId !== batchId) {
        if (unit.batchId !== null) found('UNIT_IN_TWO_BATCHES', `scanned into batch ${batchId} at leaf ${leafIndex}, but it is a unit of batch ${unit.batchId}`, { batchId, firstBatchId: unit.batchId, ...(unit.batchAt ? { first: unit.batchAt } : {}) });
        const batch = this.s.batches[batchId];
        if (batch) {
          batch.units++;
          if (batch.units > batch.planned) found('BATCH_OVER_PLANNED', `is unit ${batch.units} of batch ${batchId}, planned for ${batch.planned}`, { batchId, planned: batch.planned, units: batch.units, batchOpened: batch.at });
        }
        unit.batchId = batchId;
        unit.batchAt = at;
      }
      unit.releaseId = 'releaseId' in e.data ? e.data.releaseId : (this.s.batches[batchId]?.releaseId ?? unit.releaseId);
      if (!('releaseId' in e.data)) this.identity(unit, serial, e.data.chipId ?? null, e.data.mac ?? null, at, found);
    } else if (e.type === 'IdentityRead') {
      this.identity(unit, serial, e.data.chipId, e.data.mac, at, found);
    } else if (e.type === 'UnitScrapped') {
      unit.scrapped ??= at;
    } else if (e.type === 'UnitShipped') {
      unit.shipped ??= at;
    }

    const reported = this.reportedImages(e);
    if (reported.length > 0) {
      const releaseId = e.type === 'FirmwareUpdated' ? e.data.toReleaseId : unit.releaseId;
      const approved = releaseId === null ? undefined : this.s.releases[releaseId];
      for (const r of reported) {
        const names = approved?.[r.name] ?? [];
        if (!names.some((digest) => digest.startsWith(r.digest))) {
          found('IMAGE_NOT_APPROVED', `the device reported ${r.name} ${r.digest.slice(0, 16)}…, which release ${releaseId ?? '(none)'} does not name${approved ? '' : ' (no ReleaseApproved for it in the log)'}`, {
            releaseId,
            image: r.name,
            reported: r.digest.replace(/^elf:/, ''),
            approved: names.map((n) => n.replace(/^elf:/, '')),
          });
        }
      }
      if (e.type === 'FirmwareUpdated') unit.releaseId = e.data.toReleaseId;
    }
    return findings;
  }

  /** What the device reported running, as a prefix of an approved digest (elf: for ELF hashes from a boot log). */
  private reportedImages(e: LedgerEvent): { name: string; digest: string }[] {
    if (e.type === 'AppVerified') return e.data.result === 'pass' ? [{ name: 'application', digest: e.data.reportedSha256 }] : [];
    if (e.type === 'ImagesVerified') return e.data.images.filter((i) => i.result === 'pass').map((i) => ({ name: i.name, digest: e.data.method === 'boot_log_elf_sha256' ? `elf:${i.reported}` : i.reported }));
    if (e.type === 'FirmwareUpdated') return e.data.images.map((i) => ({ name: i.name, digest: i.sha256 }));
    return [];
  }

  private identity(unit: UnitFacts, serial: string, chipId: string | null, mac: string | null, at: EventRef, found: (code: InvariantCode, message: string, evidence?: Record<string, unknown>) => void): void {
    const check = (kind: 'chipId' | 'mac', value: string | null, index: Record<string, { serial: string; at: EventRef }>) => {
      if (value === null) return;
      const mine = unit[kind];
      if (mine && mine.value !== value) found('IDENTITY_CONFLICT', `reports ${kind} ${value}, but ${mine.value} at leaf ${mine.at.leafIndex}: two devices carry this serial`, { [kind]: [mine.value, value], first: mine.at });
      const owner = index[value];
      if (owner && owner.serial !== serial) found('IDENTITY_CONFLICT', `reports ${kind} ${value}, which unit ${owner.serial} reported at leaf ${owner.at.leafIndex}`, { [kind]: value, serials: [owner.serial, serial], first: owner.at });
      if (!owner) index[value] = { serial, at };
      unit[kind] ??= { value, at };
    };
    check('chipId', chipId, this.s.chipIds);
    check('mac', mac, this.s.macs);
  }
}
