/**
 * The component index: which components each release carries (from its attached SBOM), which release each
 * unit carried when it shipped and which it carries now (field updates), each release's support end, and
 * each vulnerability's assessments and Art. 14 records. A query "units carrying mbedTLS < 3.5.2" finds the
 * candidate releases through the component indexes (purl identity, CPE product, name), judges their
 * components exactly with src/cra/match.ts, then finds the units through the release indexes: an index,
 * never a scan of units or events.
 *
 * Documents (projection `cra`):
 *   release:<id>  ReleaseComponents   indexes: purl, cpe-product, component-name, kind=release
 *   batch:<id>    { releaseId }       (a version 1 scan names its batch only)
 *   unit:<serial> UnitCarrying        indexes (shipped units): shipped-release, current-release, customer
 *   vuln:<id>     VulnerabilityDoc    indexes: kind=vulnerability
 */
import type { EventOf, LedgerEvent } from '../schemas/index.ts';
import type { DocumentProjection } from './projection.ts';
import { parseCpe, unescapeCpe } from '../src/cra/cpe.ts';
import { parsePurl, purlIdentity } from '../src/cra/purl.ts';
import type { IndexedComponentEntry } from '../src/cra/index-entries.ts';

export const CRA_PROJECTION = 'cra';

export interface ReleaseComponents {
  readonly kind: 'release';
  readonly releaseId: string;
  readonly productSku: string;
  readonly version: string;
  readonly approvedAt: string;
  readonly sbomSha256: string | null;
  readonly images: readonly { name: string; sha256: string; sha512?: string; sizeBytes?: number }[];
  readonly sbom: { sha256: string; format: string; specVersion: string; encoding: string; sizeBytes: number; attachedAt: string } | null;
  readonly components: readonly IndexedComponentEntry[];
  /** YYYY-MM (Art. 13(19)), or null while none is set. */
  readonly supportEnd: string | null;
}

export interface FieldUpdate {
  readonly at: string;
  readonly fromReleaseId: string;
  readonly toReleaseId: string;
  readonly method: string;
  readonly campaign?: string;
}

export interface UnitCarrying {
  readonly kind: 'unit';
  readonly serial: string;
  readonly batchId: string | null;
  /** The release the unit was made with: what it carried when it shipped. */
  readonly madeReleaseId: string | null;
  readonly currentReleaseId: string | null;
  readonly status: 'in_production' | 'shipped' | 'scrapped';
  readonly customer: string | null;
  readonly orderRef: string | null;
  /** The placing on the market (CRA Art. 3(40)): the ship date. */
  readonly shippedAt: string | null;
  readonly updates: readonly FieldUpdate[];
}

export type Statement = EventOf<'VulnerabilityAssessed'>['data'] & { readonly at: string };

export interface VulnerabilityDoc {
  readonly kind: 'vulnerability';
  readonly vulnerabilityId: string;
  /** Every assessment, oldest first; for each release the newest statement naming it is the current one. */
  readonly statements: readonly Statement[];
  readonly awareness: (EventOf<'VulnerabilityAwareness'>['data'] & { readonly recordedAt: string }) | null;
  readonly reports: readonly (EventOf<'CraReportSubmitted'>['data'] & { readonly recordedAt: string })[];
  /** Each notification list the ledger produced (NotificationListProduced), oldest first: who was told what, when. */
  readonly notificationLists: readonly NotificationListRecord[];
}

export type NotificationListRecord = EventOf<'NotificationListProduced'>['data'] & { readonly producedAt: string };

type Doc = ReleaseComponents | UnitCarrying | VulnerabilityDoc | { readonly kind: 'batch'; readonly releaseId: string };

/** Lowercased identity of a purl, or null when it does not parse (it then matches nothing by purl). */
export function purlKey(text: string): string | null {
  try {
    return purlIdentity(parsePurl(text)).toLowerCase();
  } catch {
    return null;
  }
}

/** The product of a CPE, lowercased and unescaped, or null when it names none (ANY) or does not parse. */
export function cpeProductKey(text: string): string | null {
  try {
    return unescapeCpe(parseCpe(text).product)?.toLowerCase() ?? null;
  } catch {
    return null;
  }
}

function newUnit(serial: string): UnitCarrying {
  return { kind: 'unit', serial, batchId: null, madeReleaseId: null, currentReleaseId: null, status: 'in_production', customer: null, orderRef: null, shippedAt: null, updates: [] };
}

export const componentIndexProjection: DocumentProjection<Doc> = {
  name: CRA_PROJECTION,
  // 2: vulnerabilities carry the notification lists produced (NotificationListProduced).
  version: 2,
  keyOf(event: LedgerEvent): string | null {
    switch (event.type) {
      case 'ReleaseApproved':
      case 'SbomAttached':
      case 'SupportPeriodSet':
        return `release:${event.data.releaseId}`;
      case 'BatchOpened':
        return `batch:${event.data.batchId}`;
      case 'UnitScanned':
      case 'UnitShipped':
      case 'UnitScrapped':
      case 'FirmwareUpdated':
        return `unit:${event.data.serial}`;
      case 'VulnerabilityAssessed':
      case 'VulnerabilityAwareness':
      case 'CraReportSubmitted':
      case 'NotificationListProduced':
        return `vuln:${event.data.vulnerabilityId}`;
      default:
        return null;
    }
  },
  evolve(current, event, _meta, lookup): Doc {
    switch (event.type) {
      case 'ReleaseApproved': {
        const d = event.data;
        const images = 'images' in d ? d.images.map((i) => ({ name: i.name, sha256: i.sha256, sha512: i.sha512, sizeBytes: i.sizeBytes })) : [{ name: 'bootloader', sha256: d.bootloaderSha256 }, { name: 'application', sha256: d.applicationSha256 }];
        return { kind: 'release', releaseId: d.releaseId, productSku: d.productSku, version: d.version, approvedAt: event.occurredAt, sbomSha256: d.sbomSha256 ?? null, images, sbom: null, components: [], supportEnd: null };
      }
      case 'SbomAttached': {
        const r = current as ReleaseComponents;
        const d = event.data;
        return { ...r, sbom: { sha256: d.sha256, format: d.format, specVersion: d.specVersion, encoding: d.encoding, sizeBytes: d.sizeBytes, attachedAt: event.occurredAt }, components: d.components };
      }
      case 'SupportPeriodSet':
        return { ...(current as ReleaseComponents), supportEnd: event.data.supportEnd };
      case 'BatchOpened':
        return { kind: 'batch', releaseId: event.data.releaseId };
      case 'UnitScanned': {
        const u = (current as UnitCarrying | null) ?? newUnit(event.data.serial);
        const releaseId = 'releaseId' in event.data ? event.data.releaseId : (lookup<{ releaseId: string }>(`batch:${event.data.batchId}`)?.releaseId ?? null);
        return { ...u, batchId: event.data.batchId, madeReleaseId: releaseId, currentReleaseId: releaseId };
      }
      case 'UnitShipped': {
        const u = (current as UnitCarrying | null) ?? newUnit(event.data.serial);
        return { ...u, status: 'shipped', customer: event.data.customer, orderRef: event.data.orderRef, shippedAt: event.occurredAt };
      }
      case 'UnitScrapped':
        return { ...((current as UnitCarrying | null) ?? newUnit(event.data.serial)), status: 'scrapped' };
      case 'FirmwareUpdated': {
        const u = (current as UnitCarrying | null) ?? newUnit(event.data.serial);
        const d = event.data;
        const update: FieldUpdate = { at: event.occurredAt, fromReleaseId: d.fromReleaseId, toReleaseId: d.toReleaseId, method: d.method, ...(d.campaign ? { campaign: d.campaign } : {}) };
        return { ...u, currentReleaseId: d.toReleaseId, updates: [...u.updates, update] };
      }
      case 'VulnerabilityAssessed':
      case 'VulnerabilityAwareness':
      case 'CraReportSubmitted':
      case 'NotificationListProduced': {
        const v: VulnerabilityDoc = (current as VulnerabilityDoc | null) ?? { kind: 'vulnerability', vulnerabilityId: event.data.vulnerabilityId, statements: [], awareness: null, reports: [], notificationLists: [] };
        if (event.type === 'NotificationListProduced') return { ...v, notificationLists: [...v.notificationLists, { ...event.data, producedAt: event.occurredAt }] };
        if (event.type === 'VulnerabilityAssessed') return { ...v, statements: [...v.statements, { ...event.data, at: event.occurredAt }] };
        if (event.type === 'VulnerabilityAwareness') return { ...v, awareness: { ...event.data, recordedAt: event.occurredAt } };
        return { ...v, reports: [...v.reports, { ...event.data, recordedAt: event.occurredAt }] };
      }
      default:
        throw new Error(`the component index cannot apply ${event.type}`);
    }
  },
  indexes(doc) {
    switch (doc.kind) {
      case 'release': {
        const out = new Set<string>([`kind\u0000release`]);
        for (const c of doc.components) {
          out.add(`component-name\u0000${c.name.toLowerCase()}`);
          for (const p of c.purls) {
            const k = purlKey(p);
            if (k) out.add(`purl\u0000${k}`);
          }
          for (const cpe of c.cpes) {
            const k = cpeProductKey(cpe);
            if (k) out.add(`cpe-product\u0000${k}`);
          }
        }
        return [...out].map((s) => s.split('\u0000') as [string, string]);
      }
      case 'unit':
        if (doc.status !== 'shipped') return [];
        return [
          ...(doc.madeReleaseId ? ([['shipped-release', doc.madeReleaseId]] as const) : []),
          ...(doc.currentReleaseId ? ([['current-release', doc.currentReleaseId]] as const) : []),
          ...(doc.customer ? ([['customer', doc.customer]] as const) : []),
        ];
      case 'vulnerability':
        return [['kind', 'vulnerability']];
      default:
        return [];
    }
  },
};
