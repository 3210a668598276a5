/**
 * The CRA questions, answered from the component index (projections/components.ts): which releases carry a
 * component, which units carry those releases (as shipped, or now), which are affected by a vulnerability
 * per its current assessments, grouped per customer for the notification list, and the Art. 14 clock.
 * Releases are found through component indexes and judged exactly by src/cra/match.ts; units are found
 * through the release indexes, a page at a time.
 */
import type { ReadModel } from './read-model.ts';
import { CRA_PROJECTION, cpeProductKey, purlKey, type ReleaseComponents, type Statement, type UnitCarrying, type VulnerabilityDoc } from '../../projections/components.ts';
import { compileSelector, matchComponent, type ComponentSelector } from '../cra/match.ts';
import type { Component } from '../cra/component.ts';
import type { IndexedComponentEntry } from '../cra/index-entries.ts';
import { art14Clock, type ClockView } from '../cra/art14.ts';
import type { VexStatus } from '../cra/vex.ts';

export type CarryView = 'shipped' | 'now';

export interface ComponentHit {
  readonly name: string;
  readonly version?: string;
  readonly via: string;
  /** Set when the identity matched but the version could not be ordered under the range's scheme. */
  readonly incomparable?: string;
}

export interface ReleaseHit {
  readonly release: ReleaseComponents;
  readonly components: readonly ComponentHit[];
  /** The current assessment of this release (vulnerability queries). */
  readonly status?: VexStatus;
}

export interface UnitRow {
  readonly serial: string;
  readonly customer: string | null;
  readonly orderRef: string | null;
  readonly shippedAt: string | null;
  readonly batchId: string | null;
  /** The release that made this row match, under the view asked for. */
  readonly releaseId: string;
  readonly version: string;
  readonly shippedReleaseId: string | null;
  readonly currentReleaseId: string | null;
  readonly fieldUpdates: number;
  readonly supportEnd: string | null;
  /** Whether the support period of `releaseId` still runs this month (false when none is set). */
  readonly supported: boolean;
  readonly components: string;
  readonly status?: VexStatus;
}

const asComponent = (c: IndexedComponentEntry): Component => ({
  ...c,
  creators: [],
  concludedLicences: [],
  declaredLicences: [],
  unqualifiedLicences: [],
  hashes: [],
  dependsOn: [],
  dependenciesStated: false,
  contains: [],
});

const thisMonth = (now: Date) => now.toISOString().slice(0, 7);

/** The releases each vulnerability statement names, newest statement first wins. */
export function currentStatements(doc: VulnerabilityDoc): Map<string, Statement> {
  const current = new Map<string, Statement>();
  for (const s of doc.statements) for (const id of s.releaseIds) current.set(id, s);
  return current;
}

export class CraQueries {
  constructor(
    private readonly projections: ReadModel,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  release(releaseId: string): ReleaseComponents | null {
    const doc = this.projections.get<ReleaseComponents>(CRA_PROJECTION, `release:${releaseId}`);
    return doc?.kind === 'release' ? doc : null;
  }

  releases(): ReleaseComponents[] {
    return this.projections.findDocs<ReleaseComponents>(CRA_PROJECTION, 'kind', 'release');
  }

  vulnerability(id: string): VulnerabilityDoc | null {
    return this.projections.get<VulnerabilityDoc>(CRA_PROJECTION, `vuln:${id}`);
  }

  vulnerabilities(): VulnerabilityDoc[] {
    return this.projections.findDocs<VulnerabilityDoc>(CRA_PROJECTION, 'kind', 'vulnerability');
  }

  /** Releases whose SBOM could hold the selected component, found by index (all releases only for a CPE of ANY product). */
  private candidates(selector: ComponentSelector): ReleaseComponents[] {
    const find = (name: string, value: string | null) => (value === null ? this.releases() : this.projections.findDocs<ReleaseComponents>(CRA_PROJECTION, name, value));
    switch (selector.kind) {
      case 'purl':
        return find('purl', purlKey(selector.purl) ?? '');
      case 'cpe':
        return find('cpe-product', cpeProductKey(selector.cpe));
      case 'name':
        return find('component-name', selector.name.toLowerCase());
    }
  }

  /** The releases carrying a component, with the components that matched (or could not be judged). */
  releasesCarrying(selectors: readonly ComponentSelector[]): ReleaseHit[] {
    const hits = new Map<string, { release: ReleaseComponents; components: ComponentHit[] }>();
    for (const selector of selectors) {
      const compiled = compileSelector(selector);
      for (const release of this.candidates(selector)) {
        for (const c of release.components) {
          const v = matchComponent(compiled, asComponent(c));
          if (v.matched === false) continue;
          const hit = hits.get(release.releaseId) ?? { release, components: [] };
          const entry: ComponentHit = { name: c.name, ...(c.version ? { version: c.version } : {}), via: v.via, ...(v.matched === 'incomparable' ? { incomparable: v.reason } : {}) };
          if (!hit.components.some((h) => h.name === entry.name && h.version === entry.version)) hit.components.push(entry);
          hits.set(release.releaseId, hit);
        }
      }
    }
    return [...hits.values()].sort((a, b) => (a.release.releaseId < b.release.releaseId ? -1 : 1));
  }

  /**
   * The releases a vulnerability concerns with the given statuses (its current assessment of each), with
   * the assessed components each carries; and the releases that carry such a component but no statement names.
   */
  releasesFor(vulnerabilityId: string, statuses: readonly VexStatus[]): { hits: ReleaseHit[]; unassessed: ReleaseHit[] } | null {
    const doc = this.vulnerability(vulnerabilityId);
    if (!doc || doc.statements.length === 0) return null;
    const current = currentStatements(doc);
    const selectors = [...new Map(doc.statements.flatMap((s) => s.components).map((c) => [JSON.stringify(c), c as ComponentSelector])).values()];
    const carrying = new Map(this.releasesCarrying(selectors).map((h) => [h.release.releaseId, h]));
    const hits: ReleaseHit[] = [];
    for (const [releaseId, statement] of [...current.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (!statuses.includes(statement.status)) continue;
      const release = this.release(releaseId);
      if (!release) continue;
      hits.push({ release, components: carrying.get(releaseId)?.components ?? [], status: statement.status });
    }
    const unassessed = [...carrying.values()].filter((h) => !current.has(h.release.releaseId));
    return { hits, unassessed };
  }

  /** Shipped units carrying any of the releases, in serial order, a page at a time. */
  units(hits: readonly ReleaseHit[], view: CarryView, page: { after?: string; limit: number }): { rows: UnitRow[]; next: string | null } {
    const index = view === 'shipped' ? 'shipped-release' : 'current-release';
    const byRelease = new Map(hits.map((h) => [h.release.releaseId, h]));
    const merged = new Map<string, UnitCarrying>();
    for (const h of hits) {
      for (const u of this.projections.findDocs<UnitCarrying>(CRA_PROJECTION, index, h.release.releaseId, { ...(page.after ? { after: `unit:${page.after}` } : {}), limit: page.limit + 1 })) merged.set(u.serial, u);
    }
    const units = [...merged.values()].sort((a, b) => (a.serial < b.serial ? -1 : a.serial > b.serial ? 1 : 0));
    const pageUnits = units.slice(0, page.limit);
    const month = thisMonth(this.clock());
    const rows = pageUnits.map((u): UnitRow => {
      const releaseId = (view === 'shipped' ? u.madeReleaseId : u.currentReleaseId) as string;
      const hit = byRelease.get(releaseId) as ReleaseHit;
      const supportEnd = hit.release.supportEnd;
      return {
        serial: u.serial,
        customer: u.customer,
        orderRef: u.orderRef,
        shippedAt: u.shippedAt,
        batchId: u.batchId,
        releaseId,
        version: hit.release.version,
        shippedReleaseId: u.madeReleaseId,
        currentReleaseId: u.currentReleaseId,
        fieldUpdates: u.updates.length,
        supportEnd,
        supported: supportEnd !== null && supportEnd >= month,
        components: hit.components.map((c) => `${c.name}${c.version ? ` ${c.version}` : ''}${c.incomparable ? ' (version not comparable)' : ''}`).join('; '),
        ...(hit.status ? { status: hit.status } : {}),
      };
    });
    const last = pageUnits[pageUnits.length - 1];
    return { rows, next: units.length > page.limit && last ? last.serial : null };
  }

  /** Every row, page by page (notification lists, CSV and NDJSON). */
  *allUnits(hits: readonly ReleaseHit[], view: CarryView, pageSize = 1000): Generator<UnitRow> {
    let after: string | undefined;
    for (;;) {
      const { rows, next } = this.units(hits, view, { ...(after ? { after } : {}), limit: pageSize });
      yield* rows;
      if (next === null) return;
      after = next;
    }
  }

  /** The Art. 14 clock of a vulnerability whose awareness is recorded; null otherwise. */
  deadlines(doc: VulnerabilityDoc): ClockView | null {
    if (!doc.awareness) return null;
    const fixes = doc.statements.filter((s) => s.fixAvailableAt !== undefined || s.status === 'fixed').map((s) => s.fixAvailableAt ?? s.at);
    const fixAvailableAt = doc.awareness.track === 'vulnerability' && fixes.length > 0 ? fixes.sort()[0] : undefined;
    return art14Clock({
      track: doc.awareness.track,
      awareAt: doc.awareness.awareAt,
      ...(fixAvailableAt ? { fixAvailableAt } : {}),
      submissions: doc.reports.map((r) => ({ stage: r.stage, at: r.submittedAt, ...(r.covers ? { covers: r.covers } : {}) })),
      now: this.clock().toISOString(),
    });
  }
}
