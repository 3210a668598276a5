/** globalSetup of the `int` tier: one throwaway PostgreSQL cluster for every test that needs one. */
import type { TestProject } from 'vitest/node';
import { startCluster } from './postgres-cluster.ts';

export default async function setup(project: TestProject): Promise<() => void> {
  const cluster = await startCluster();
  project.provide('postgres', cluster.availability);
  return () => cluster.stop();
}
