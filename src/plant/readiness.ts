/**
 * A unit's readiness (projections/readiness.ts) from the read model, current as of the call: the read model
 * first catches up with the log, so an answer never misses an event the ledger had already accepted. The CFX
 * interlock and the HTTP route both ask this.
 */
import type { ReadModel } from '../read/read-model.ts';
import type { ProductionDoc, ReleaseDoc, UnitFacts } from '../../projections/production.ts';
import type { UnitView } from '../../projections/unit-state.ts';
import { unitReadiness, type Readiness } from '../../projections/readiness.ts';

export type ReadinessSource = (serial: string) => Promise<Readiness>;

export function readinessFromReadModel(projections: ReadModel): ReadinessSource {
  return async (serial) => {
    await projections.catchUp();
    const unit = projections.get<UnitView>('unit-state', serial);
    const doc = projections.get<ProductionDoc>('production', `unit:${serial}`);
    const facts = doc?.kind === 'unit' ? (doc as UnitFacts) : null;
    const release = facts?.releaseId ? projections.get<ReleaseDoc>('production', `release:${facts.releaseId}`) : null;
    return unitReadiness(serial, { unit, facts, release });
  };
}
