/// <reference lib="dom" />
/**
 * The offline verifier page's script: the pinned keys and signature policy, a dropped (or chosen) file, the
 * pipeline's named steps shown as they run (pending → running → ok / failed, with code and location), a
 * progress bar of bytes read and units and events verified, and the verdict with the signature algorithms that
 * verified. It makes no network request: the page's Content-Security-Policy (connect-src 'none') forbids it,
 * and the Web Workers start from a Blob URL of the page's own script (main.ts).
 */
import { isExport, verifyFile, type Outcome, type Progress } from './run.ts';
import { StepBoard, whereText, type BoardStep, type StepState } from './board.ts';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const keyInput = $<HTMLTextAreaElement>('ledger-key');
const pqKeyInput = $<HTMLTextAreaElement>('ledger-pq-key');
const mapKeyInput = $<HTMLTextAreaElement>('map-key');
const policyInput = $<HTMLSelectElement>('signatures');
const fileInput = $<HTMLInputElement>('file');
const renewalInput = $<HTMLInputElement>('renewal');
const drop = $<HTMLElement>('drop');
const progress = $<HTMLProgressElement>('progress');
const progressText = $<HTMLElement>('progress-text');
const announce = $<HTMLElement>('announce');
const stepList = $<HTMLOListElement>('steps');
const output = $<HTMLElement>('output');
const verdict = $<HTMLElement>('verdict');

// The workers run this page's own script (main.ts), which serves as a worker where there is no document: as a
// classic worker (the bundle has no import or export; a module worker from a blob: URL is refused under this CSP).
const ownScript = document.querySelector<HTMLScriptElement>('script[type="module"]')?.textContent ?? '';
const workerUrl = URL.createObjectURL(new Blob([ownScript], { type: 'text/javascript' }));
let running = false;
let board: StepBoard | null = null;

const STATE_TEXT: Record<StepState, string> = { pending: '○ pending', running: '▶ running', ok: '✔ ok', failed: '✖ FAILED', 'not-run': '– not run' };

/** The step list, redrawn from the board (a handful of rows). */
function drawSteps(): void {
  if (!board) return stepList.replaceChildren();
  stepList.replaceChildren(
    ...board.steps.map((s) => {
      const li = document.createElement('li');
      li.dataset['step'] = s.name;
      li.dataset['state'] = s.state;
      if (s.code) li.dataset['code'] = s.code;
      if (s.state === 'running') li.setAttribute('aria-current', 'step');
      const cell = (cls: string, text: string) => {
        const span = document.createElement('span');
        span.className = cls;
        span.textContent = text;
        return span;
      };
      li.append(cell('state', STATE_TEXT[s.state]), cell('name', s.name), cell('detail', stepDetail(s)));
      return li;
    }),
  );
}

function stepDetail(s: BoardStep): string {
  if (s.state !== 'failed') return s.detail;
  const where = whereText(s.location);
  return `${s.code ?? ''}${s.failedAt ? ` at step ${s.failedAt}` : ''}${where ? ` (${where})` : ''}: ${s.detail}`;
}

/** Progress, redrawn at most every 100 ms: a 100k-event export reports thousands of times. */
let lastProgress = 0;
function show(p: Progress, force = false): void {
  const now = performance.now();
  if (!force && now - lastProgress < 100) return;
  lastProgress = now;
  progress.max = Math.max(1, p.total);
  progress.value = p.bytes;
  const percent = Math.round((p.bytes / Math.max(1, p.total)) * 100);
  const text = `${percent} % of ${mebibytes(p.total)} read; ${p.units.toLocaleString('en-US')} units, ${p.events.toLocaleString('en-US')} events verified`;
  progress.setAttribute('aria-valuetext', text);
  progressText.textContent = text;
  progressText.dataset['units'] = String(p.units);
  progressText.dataset['events'] = String(p.events);
}

function mebibytes(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${(bytes / (1024 * 1024)).toFixed(1)} MiB` : `${(bytes / 1024).toFixed(1)} KiB`;
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
  for (const k of ['code', 'step', 'serial', 'line', 'signatures', 'policy']) delete verdict.dataset[k];
  if (outcome.ok) {
    board?.finished();
    const { policy, verified } = outcome.signatures;
    verdict.dataset['signatures'] = verified.join(' ');
    verdict.dataset['policy'] = policy;
    const renewed = outcome.kind === 'renewal' || outcome.kind === 'export-renewal' ? `; renewed: ${outcome.report.renewed.statement}` : '';
    verdict.textContent = `Verified: ${name}. Checkpoint signatures verified: ${verified.join(' + ')} (${policy} policy)${renewed}`;
  } else {
    const { code, step, location } = outcome.error;
    board?.failed(outcome.error);
    verdict.dataset['code'] = code;
    verdict.dataset['step'] = step;
    if (location.serial !== undefined) verdict.dataset['serial'] = location.serial;
    if (location.line !== undefined) verdict.dataset['line'] = String(location.line);
    const where = whereText(location);
    verdict.textContent = `NOT verified: ${code} at step ${step}${where ? ` (${where})` : ''}`;
  }
  drawSteps();
  verdict.dataset['state'] = outcome.ok ? 'verified' : 'failed';
  verdict.focus();
}

async function start(file: File, renewal?: File): Promise<void> {
  if (running) return;
  running = true;
  board = null;
  drawSteps();
  output.replaceChildren();
  verdict.hidden = true;
  verdict.dataset['state'] = 'running';
  progress.value = 0;
  delete progressText.dataset['units'];
  delete progressText.dataset['events'];
  progressText.textContent = `reading ${file.name}…`;
  announce.textContent = `verifying ${file.name}`;
  let latest: Progress | null = null;
  try {
    const outcome = await verifyFile(file, { ledgerKey: keyInput.value, pqKey: pqKeyInput.value, mapKey: mapKeyInput.value, signatures: policyInput.value }, {
      startWorker: () => new Worker(workerUrl),
      workers: Math.min(8, Math.max(1, navigator.hardwareConcurrency || 2)),
      onProgress: (p) => {
        latest = p;
        show(p);
      },
      onLine: line,
      onPlan: (_kind, steps) => {
        board = new StepBoard(steps);
        drawSteps();
      },
      onStep: (step) => {
        if (!board) return;
        board.passed(step);
        drawSteps();
        const next = board.running;
        announce.textContent = `step ${step.step} passed${next ? `; ${next.name} running` : ''}`;
      },
    }, renewal);
    if (latest) show(latest, true);
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

/**
 * The files to verify: one file (with the renewal bundle chosen above, if any), or two dropped or chosen together,
 * an export and its renewal bundle, told apart by the export's first line.
 */
async function startWith(files: readonly File[]): Promise<void> {
  if (files.length === 2) {
    const [a, b] = files as [File, File];
    const aIsExport = await isExport(a);
    return start(aIsExport ? a : b, aIsExport ? b : a);
  }
  const file = files[0];
  if (file) return start(file, renewalInput.files?.[0]);
}

fileInput.addEventListener('change', () => void startWith(Array.from(fileInput.files ?? [])));
drop.addEventListener('dragover', (event) => {
  event.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (event) => {
  event.preventDefault();
  drop.classList.remove('over');
  void startWith(Array.from(event.dataTransfer?.files ?? []));
});
