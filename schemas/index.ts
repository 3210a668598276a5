export * from './common.ts';
export * from './unit-events.ts';
export * from './admin-events.ts';
export * from './event.ts';
export * from './ledger-events.ts';
export * from './recipe.ts';
