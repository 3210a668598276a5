/**
 * Everything a run will need, checked before the first unit, against the batch's release and the same
 * schemas the ledger applies: a recipe step without tools, a tool that is not installed, an image file
 * that is not the release's, a template with another digest, an unknown placeholder, a port that does not
 * exist, an operator or fixture id the ledger would refuse. Each problem names the config member.
 */
import { createHash } from 'node:crypto';
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import { UnitScannedV2, UnitShippedV2 } from '../schemas/unit-events.ts';
import type { RecipeRelease } from '../src/domain/recipe.ts';
import type { StationConfig } from './config.ts';
import { placeholdersOf } from './tools.ts';

export interface BatchFacts {
  readonly batchId: string;
  readonly releaseId: string;
  readonly line: string;
  readonly productSku: string;
  readonly status: 'open' | 'closed' | 'unknown';
}

const sha256File = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

const reason = (error: unknown) => {
  const code = (error as { code?: string }).code;
  return code === 'ENOENT' ? 'no such file or directory' : code === 'EACCES' ? 'permission denied' : (error as Error).message;
};

/** Whether a program can be started: an executable path, or a name found in PATH. */
function findProgram(program: string): boolean {
  const { PATH: searchPath = '' } = process.env;
  const candidates = isAbsolute(program) || program.includes('/') ? [program] : searchPath.split(delimiter).filter((d) => d !== '').map((d) => join(d, program));
  return candidates.some((c) => {
    try {
      accessSync(c, constants.X_OK);
      return statSync(c).isFile();
    } catch {
      return false;
    }
  });
}

/**
 * The problems of this configuration for this batch and release; empty when the station may start.
 * `files: false` leaves out what depends on this machine (files, ports, installed tools): for examples.
 */
export function preflight(config: StationConfig, release: RecipeRelease, batch: BatchFacts, options: { files?: boolean } = {}): string[] {
  const problems: string[] = [];
  const checkFiles = options.files ?? true;
  const problem = (where: string, what: string) => problems.push(`${where}: ${what}`);
  const fileProblem = (where: string, what: string) => {
    if (checkFiles) problem(where, what);
  };
  const images = new Map(release.images.map((i) => [i.name, i]));

  for (const [name, path] of [['ports.scanner.path', config.ports.scanner.path], ...(config.ports.console ? [['ports.console.path', config.ports.console.path]] : [])] as const) {
    try {
      statSync(path);
    } catch (error) {
      fileProblem(name, `${path}: ${reason(error)}`);
    }
  }
  const sample = { serial: 'PREFLIGHT-1', batchId: batch.batchId, releaseId: release.releaseId, station: config.stationId, operator: config.operator ?? 'operator', ...(config.fixture ? { fixture: config.fixture } : {}), productSku: batch.productSku, hardwareRevision: config.hardwareRevision };
  for (const issue of UnitScannedV2.safeParse(sample).error?.issues ?? []) problem(issue.path.join('.') === 'station' ? 'stationId' : issue.path.join('.'), issue.message);
  if (config.shipping) for (const issue of UnitShippedV2.safeParse({ serial: 'PREFLIGHT-1', ...config.shipping, operator: 'operator' }).error?.issues ?? []) problem(`shipping.${issue.path.join('.')}`, issue.message);
  if (batch.status !== 'open') problem('batchId', `batch ${batch.batchId} is ${batch.status}`);
  if (config.role !== 'flash') return problems;

  const recipeSteps = new Map(release.recipe.steps.map((s) => [s.id, s]));
  for (const id of Object.keys(config.steps)) if (!recipeSteps.has(id)) problem(`steps.${id}`, `not a step of recipe ${release.recipe.id} (its steps: ${[...recipeSteps.keys()].join(', ')})`);
  const usedImages = new Set<string>();
  for (const step of release.recipe.steps) {
    const where = `steps.${step.id}`;
    const sc = config.steps[step.id];
    if (!sc) {
      problem(where, `missing: recipe ${release.recipe.id} has a ${step.kind} step ${step.id}, and this station has no tools for it`);
      continue;
    }
    const used = new Set(sc.run.flatMap((r) => placeholdersOf(r.command)));
    sc.run.forEach((r, i) => {
      const program = r.command[0] as string;
      if (!program.includes('{') && !findProgram(program)) fileProblem(`${where}.run.${i}.command.0`, `${program} is not installed (not an executable path, not in PATH)`);
    });
    for (const p of used) {
      const [name, arg] = p.split(':') as [string, string | undefined];
      const ok =
        (arg === undefined && ['port', 'baud', 'serial', 'mac', 'chipId'].includes(name)) ||
        (arg === undefined && name === 'config' && step.kind === 'provision') ||
        (arg === undefined && name === 'fuses' && (step.kind === 'burn' || step.kind === 'lock')) ||
        (arg !== undefined && ['image', 'size', 'offset'].includes(name) && images.has(arg)) ||
        (arg !== undefined && name === 'out' && (step.kind === 'verify' || step.kind === 'provision')) ||
        (arg !== undefined && name === 'secret' && arg in config.secrets);
      if (!ok) problem(where, `unknown placeholder {${p}}${name === 'secret' ? ` (no secrets.${arg ?? ''})` : name === 'image' ? ` (release ${release.releaseId} has images ${[...images.keys()].join(', ')})` : ''}`);
      if (name === 'image' && arg) usedImages.add(arg);
    }
    if (step.kind === 'write' || step.kind === 'lock') {
      for (const name of step.images) {
        usedImages.add(name);
        if (!used.has(`image:${name}`)) problem(where, `the tools never get {image:${name}}, which this step writes`);
      }
    }
    if (step.kind === 'verify' && step.method === 'readback_sha256') {
      for (const name of step.images) if (!used.has(`out:${name}`)) problem(where, `a read-back needs {out:${name}}: the file the tool reads ${name} into`);
    }
    if (step.kind === 'verify' && step.method === 'tool_compare') {
      for (const name of step.images) if (!used.has(`image:${name}`)) problem(where, `the comparing tool never gets {image:${name}}`);
    }
    if (step.kind === 'provision') {
      const path = config.templates[step.templateId];
      if (path === undefined) problem(`templates.${step.templateId}`, `missing: step ${step.id} renders template ${step.templateId}`);
      else {
        try {
          const digest = sha256File(path);
          if (digest !== step.templateSha256) fileProblem(`templates.${step.templateId}`, `${path} has SHA-256 ${digest.slice(0, 16)}…, the recipe says ${step.templateSha256.slice(0, 16)}…`);
        } catch (error) {
          fileProblem(`templates.${step.templateId}`, `${path}: ${reason(error)}`);
        }
      }
      if (sc.provisionedImage && !used.has(`out:${sc.provisionedImage.name}`)) problem(where, `provisionedImage ${sc.provisionedImage.name} is never produced ({out:${sc.provisionedImage.name}})`);
    }
  }
  for (const name of usedImages) {
    const path = config.images[name];
    const expected = images.get(name);
    if (!expected) continue;
    if (path === undefined) {
      problem(`images.${name}`, `missing: the recipe writes or compares ${name}`);
      continue;
    }
    if (!checkFiles) continue;
    try {
      const data = readFileSync(path);
      const digest = createHash('sha256').update(data).digest('hex');
      if (digest !== expected.sha256) problem(`images.${name}`, `${path} has SHA-256 ${digest.slice(0, 16)}…, release ${release.releaseId} says ${expected.sha256.slice(0, 16)}…`);
      else if (data.length !== expected.sizeBytes) problem(`images.${name}`, `${path} is ${data.length} bytes, release ${release.releaseId} says ${expected.sizeBytes}`);
    } catch (error) {
      problem(`images.${name}`, `${path}: ${reason(error)}`);
    }
  }
  for (const [name, path] of Object.entries(config.secrets)) {
    try {
      accessSync(path, constants.R_OK);
    } catch (error) {
      fileProblem(`secrets.${name}`, `${path}: ${reason(error)}`);
    }
  }
  if (config.afterPass) {
    const program = config.afterPass.command[0] as string;
    if (!findProgram(program)) fileProblem('afterPass.command.0', `${program} is not installed`);
    for (const p of placeholdersOf(config.afterPass.command)) if (!['serial', 'mac', 'chipId', 'release', 'batch'].includes(p)) problem('afterPass', `unknown placeholder {${p}}`);
  }
  return problems;
}
