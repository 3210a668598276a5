/// <reference lib="dom" />
/**
 * The offline verifier page's script: a pinned key, a dropped (or chosen) file, the verification step by step
 * with a progress bar, and the verdict. It makes no network request: the page's Content-Security-Policy
 * (connect-src 'none') forbids it, and the Web Workers start from a Blob URL of code bundled into the page.
 */
import { verifyFile, type Outcome, type Progress } from './run.ts';

/** The worker bundle, put here by scripts/bundle-page.js. */
declare const WORKER_SOURCE: string;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const keyInput = $<HTMLTextAreaElement>('ledger-key');
const fileInput = $<HTMLInputElement>('file');
const drop = $<HTMLElement>('drop');
const progress = $<HTMLProgressElement>('progress');
const progressText = $<HTMLElement>('progress-text');
const output = $<HTMLElement>('output');
const verdict = $<HTMLElement>('verdict');

const workerUrl = URL.createObjectURL(new Blob([WORKER_SOURCE], { type: 'text/javascript' }));
let running = false;

function show(p: Progress): void {
  progress.max = Math.max(1, p.total);
  progress.value = p.bytes;
  progressText.textContent = `${Math.round((p.bytes / Math.max(1, p.total)) * 100)} % read; ${p.units} units, ${p.events} events verified`;
}

function line(text: string): void {
  const li = document.createElement('li');
  li.textContent = text;
  if (/^ {2}ok /.test(text)) li.className = 'ok';
  else if (/^ {2}FAIL /.test(text)) li.className = 'fail';
  output.append(li);
}

function conclude(outcome: Outcome, name: string): void {
  verdict.hidden = false;
  verdict.className = outcome.ok ? 'verdict ok' : 'verdict fail';
  delete verdict.dataset['code'];
  delete verdict.dataset['step'];
  delete verdict.dataset['serial'];
  delete verdict.dataset['line'];
  if (outcome.ok) {
    verdict.textContent = `Verified: ${name}`;
  } else {
    const { code, step, location } = outcome.error;
    verdict.dataset['code'] = code;
    verdict.dataset['step'] = step;
    if (location.serial !== undefined) verdict.dataset['serial'] = location.serial;
    if (location.line !== undefined) verdict.dataset['line'] = String(location.line);
    const where = [location.serial !== undefined ? `unit ${location.serial}` : '', location.line !== undefined ? `line ${location.line}` : '', location.field !== undefined ? `field ${location.field}` : ''].filter(Boolean).join(', ');
    verdict.textContent = `NOT verified: ${code} at step ${step}${where ? ` (${where})` : ''}`;
  }
  verdict.dataset['state'] = outcome.ok ? 'verified' : 'failed';
  verdict.focus();
}

async function start(file: File): Promise<void> {
  if (running) return;
  running = true;
  output.replaceChildren();
  verdict.hidden = true;
  verdict.dataset['state'] = 'running';
  progress.value = 0;
  progressText.textContent = `reading ${file.name}…`;
  try {
    const outcome = await verifyFile(file, keyInput.value, {
      startWorker: () => new Worker(workerUrl),
      workers: Math.min(8, Math.max(1, navigator.hardwareConcurrency || 2)),
      onProgress: show,
      onLine: line,
    });
    if (outcome.ok) progress.value = progress.max;
    conclude(outcome, file.name);
  } catch (error) {
    // Not a verification failure: a bug of this page. Said plainly, never as a verdict.
    verdict.hidden = false;
    verdict.className = 'verdict fail';
    verdict.dataset['state'] = 'error';
    verdict.textContent = `The verifier failed unexpectedly (a bug, please report it): ${(error as Error).message}`;
  } finally {
    running = false;
    fileInput.value = '';
  }
}

fileInput.addEventListener('change', () => {
  const file = fileInput.files?.[0];
  if (file) void start(file);
});
drop.addEventListener('dragover', (event) => {
  event.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (event) => {
  event.preventDefault();
  drop.classList.remove('over');
  const file = event.dataTransfer?.files[0];
  if (file) void start(file);
});
