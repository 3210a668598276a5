/// <reference lib="dom" />
/**
 * The ledger's web interface (GET /ui): token login, then, for auditors and administrators, unit search with
 * the unit's timeline verified in this browser against the ledger key the user pinned, "units carrying
 * firmware X" with CSV, and the batch dashboard (yield, scrap against the reference band, Pareto of failure
 * causes, retries, configuration drift), updated live from server-sent events. No UI framework: a handful of
 * forms and tables, built with the DOM. Chart.js draws the Pareto chart; every chart has its table beside it.
 */
import { BarController, BarElement, CategoryScale, Chart, Legend, LinearScale, LineController, LineElement, PointElement, Tooltip } from 'chart.js';
import { api, download, json, subscribe, type Session, ApiError } from './api.ts';
import { verifiedTimeline } from './timeline.ts';
import { scrapBand } from './band.ts';

Chart.register(BarController, BarElement, CategoryScale, LinearScale, LineController, LineElement, PointElement, Tooltip, Legend);

type Child = Node | string | null | undefined | false;
function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

function table(caption: string, head: string[], rows: (string | number)[][], id?: string): HTMLTableElement {
  return h('table', id ? { id } : {}, h('caption', {}, caption), h('thead', {}, h('tr', {}, ...head.map((c) => h('th', { scope: 'col' }, c)))), h('tbody', {}, ...rows.map((r) => h('tr', {}, ...r.map((c) => h('td', {}, String(c)))))));
}

const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
const main = document.getElementById('main') as HTMLElement;
const nav = document.getElementById('nav') as HTMLElement;
const status = document.getElementById('status') as HTMLElement;
const STORAGE = 'flashtrail.session';
let session: Session | null = null;
let live: AbortController | null = null;
let refresh: (() => Promise<void>) | null = null;

function say(text: string): void {
  status.textContent = text;
}

function loadSession(): Session | null {
  try {
    return JSON.parse(sessionStorage.getItem(STORAGE) ?? 'null') as Session | null;
  } catch {
    return null;
  }
}

function showLogin(message = ''): void {
  nav.replaceChildren();
  const token = h('input', { id: 'token', type: 'password', autocomplete: 'current-password', required: '', spellcheck: 'false' });
  const key = h('textarea', { id: 'pinned-key', rows: '2', required: '', spellcheck: 'false', 'aria-describedby': 'pinned-help' });
  const pqKey = h('textarea', { id: 'pinned-pq-key', rows: '2', spellcheck: 'false', 'aria-describedby': 'pinned-pq-help' });
  const error = h('p', { id: 'login-error', class: 'error', role: 'alert' }, message);
  const form = h(
    'form',
    { id: 'login', 'aria-labelledby': 'login-title' },
    h('h2', { id: 'login-title' }, 'Log in'),
    h('label', { for: 'token' }, 'Bearer token'),
    token,
    h('label', { for: 'pinned-key' }, 'Ledger verifier key, pinned out of band'),
    key,
    h('p', { id: 'pinned-help', class: 'help' }, 'Timelines are verified in this browser against this key. Take it from your records (the contract, the technical documentation, an earlier export), not from this server: a key the audited server hands out proves nothing.'),
    h('label', { for: 'pinned-pq-key' }, 'Ledger ML-DSA-44 verifier key, pinned out of band (optional)'),
    pqKey,
    h('p', { id: 'pinned-pq-help', class: 'help' }, "With it, a timeline is verified only if its checkpoint carries both the Ed25519 and the ML-DSA-44 signature (the hybrid policy); leave it empty for evidence from before the ledger announced its ML-DSA-44 key."),
    h('button', { type: 'submit' }, 'Log in'),
    error,
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void (async () => {
      try {
        const who = await json<{ role: string; name: string }>({ token: token.value.trim() }, '/ui/session');
        session = { token: token.value.trim(), ledgerKey: key.value.trim(), ...(pqKey.value.trim() ? { pqKey: pqKey.value.trim() } : {}), role: who.role, name: who.name };
        sessionStorage.setItem(STORAGE, JSON.stringify(session));
        route();
      } catch (e) {
        error.textContent = e instanceof ApiError && e.status === 401 ? 'That token is not known to this ledger.' : `Cannot log in: ${(e as Error).message}`;
      }
    })();
  });
  main.replaceChildren(form);
  token.focus();
}

function showNav(s: Session): void {
  const link = (href: string, text: string) => h('a', { href }, text);
  const logout = h('button', { type: 'button', id: 'logout' }, 'Log out');
  logout.addEventListener('click', () => {
    sessionStorage.removeItem(STORAGE);
    session = null;
    live?.abort();
    live = null;
    location.hash = '';
    showLogin();
  });
  const pages = s.role === 'auditor' || s.role === 'admin' ? [link('#/units', 'Units'), link('#/firmware', 'Firmware'), link('#/batches', 'Batches')] : [];
  nav.replaceChildren(h('ul', {}, ...pages.map((p) => h('li', {}, p))), h('span', { class: 'who' }, `${s.name} (${s.role})`), logout);
}

function searchForm(id: string, label: string, value: string, go: (v: string) => void, pattern?: string): HTMLFormElement {
  const input = h('input', { id, type: 'search', value, required: '', spellcheck: 'false', ...(pattern ? { pattern } : {}) });
  const form = h('form', { class: 'search', role: 'search' }, h('label', { for: id }, label), input, h('button', { type: 'submit' }, 'Show'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    go(input.value.trim());
  });
  return form;
}

async function unitPage(s: Session, serial: string): Promise<void> {
  const out = h('section', { id: 'unit', 'aria-live': 'polite' });
  main.replaceChildren(h('h2', {}, 'Units'), searchForm('serial', 'Serial number, MAC or chip id', serial, (v) => (location.hash = `#/units/${encodeURIComponent(v)}`)), out);
  if (!serial) return;
  say(`looking up ${serial}…`);
  try {
    const found = await json<{ units: { serial: string; matched: string[] }[] }>(s, `/ui/find?q=${encodeURIComponent(serial)}`);
    if (found.units.length === 0) {
      out.replaceChildren(h('p', { class: 'error', role: 'alert' }, `No unit has the serial, MAC or chip id ${serial}.`));
      return say('');
    }
    if (found.units.length > 1 || found.units[0]?.serial !== serial) {
      if (found.units.length === 1) {
        location.hash = `#/units/${encodeURIComponent((found.units[0] as { serial: string }).serial)}`;
        return;
      }
      out.replaceChildren(h('ul', { id: 'matches' }, ...found.units.map((u) => h('li', {}, h('a', { href: `#/units/${encodeURIComponent(u.serial)}` }, u.serial), ` (by ${u.matched.join(', ')})`))));
      return say('');
    }
    const unit = await json<Record<string, unknown>>(s, `/v1/units/${encodeURIComponent(serial)}`);
    const response = await api(s, `/v1/units/${encodeURIComponent(serial)}/provenance`);
    const text = await response.text();
    const doc = JSON.parse(text) as unknown;
    const verdict = verifiedTimeline(doc, s.ledgerKey, s.pqKey ?? '');
    const dl = h('button', { type: 'button', id: 'download-provenance' }, 'Download provenance document');
    dl.addEventListener('click', () => download(new Blob([text], { type: 'application/json' }), `${serial}.json`));
    const facts = table('Unit', ['serial', 'status', 'batch', 'release', 'chip id', 'MAC', 'events'], [[String(unit['serial']), String(unit['status']), String(unit['batchId'] ?? '-'), String(unit['releaseId'] ?? '-'), String(unit['chipId'] ?? '-'), String(unit['mac'] ?? '-'), String(unit['eventCount'])]], 'unit-facts');
    if (verdict.ok) {
      out.replaceChildren(
        facts,
        h('p', { id: 'timeline-verdict', class: 'verdict ok', 'data-state': 'verified', 'data-signatures': verdict.report.signatures.join(' ') }, `Timeline verified in this browser against the pinned ${s.pqKey ? 'keys' : 'key'}: ${verdict.report.events} events, checkpoint ${verdict.report.checkpoint.origin} size ${verdict.report.checkpoint.size}, signed with ${verdict.report.signatures.join(' + ')} (${s.pqKey ? 'hybrid' : 'classical'} policy)`),
        h('ul', { class: 'steps' }, ...verdict.lines.map((l) => h('li', {}, l))),
        dl,
        table('Timeline (signed events, verified)', ['time', 'event', 'station', 'key', 'leaf', 'firmware', 'security state'], verdict.rows.map((r) => [r.at, r.type, r.station, r.keyId, r.leafIndex, r.firmware, r.security]), 'timeline'),
      );
    } else {
      out.replaceChildren(facts, h('p', { id: 'timeline-verdict', class: 'verdict fail', 'data-state': 'failed', 'data-code': verdict.error.code }, `NOT verified against the pinned key: ${verdict.error.code} at step ${verdict.error.step}. Nothing of this unit's history is shown.`), h('ul', { class: 'steps' }, ...verdict.lines.map((l) => h('li', {}, l))), dl);
    }
    say('');
  } catch (e) {
    out.replaceChildren(h('p', { class: 'error', role: 'alert' }, (e as Error).message));
    say('');
  }
}

async function firmwarePage(s: Session, sha: string): Promise<void> {
  const out = h('section', { id: 'firmware', 'aria-live': 'polite' });
  main.replaceChildren(h('h2', {}, 'Units carrying a firmware image'), searchForm('sha', 'Image SHA-256 (64 hex digits)', sha, (v) => (location.hash = `#/firmware/${v.toLowerCase()}`), '[0-9a-fA-F]{64}'), out);
  if (!sha) return;
  try {
    const body = await json<{ units: Record<string, unknown>[]; next: string | null }>(s, `/v1/firmware/${sha}/units?limit=1000`);
    const units = body.units;
    const csv = h('button', { type: 'button', id: 'download-csv' }, 'Download CSV');
    csv.addEventListener('click', () => void (async () => download(await (await api(s, `/v1/firmware/${sha}/units`, 'text/csv')).blob(), `units-${sha.slice(0, 12)}.csv`))());
    out.replaceChildren(h('p', { id: 'firmware-count' }, body.next ? `The first ${units.length} units carrying ${sha} (the CSV has them all)` : `${units.length} unit(s) carry ${sha}`), csv, table('Units', ['serial', 'batch', 'status', 'carries', 'shipped', 'customer'], units.map((u) => [String(u['serial']), String(u['batchId'] ?? '-'), String(u['status']), String(u['carries']), String(u['shippedAt'] ?? '-'), String(u['customer'] ?? '-')]), 'firmware-units'));
  } catch (e) {
    out.replaceChildren(h('p', { class: 'error', role: 'alert' }, (e as Error).message));
  }
}

interface Scrap {
  started: number;
  completed: number;
  inProgress: number;
  firstPassYield: number;
  reworked: number;
  scrapped: number;
  scrapRate: number;
  retriesPerStep: Record<string, number>;
  pareto: { step: string; errorCode: string; count: number; share: number; cumulativeShare: number }[];
  byStation: ({ station?: string } & Scrap)[];
}
interface Drift {
  units: number;
  drifted: number;
  driftRate: number;
  byDimension: Record<string, number>;
  driftedUnits: { serial: string; deviations: { dimension: string; value: string; expected: string; station: string; at: string }[] }[];
}

let pareto: Chart | null = null;

async function batchPage(s: Session, batchId: string): Promise<void> {
  const out = h('section', { id: 'batch', 'aria-live': 'polite' });
  main.replaceChildren(h('h2', {}, 'Batch dashboard'), searchForm('batch-id', 'Batch', batchId, (v) => (location.hash = `#/batches/${encodeURIComponent(v)}`)), out);
  if (!batchId) return;
  const render = async () => {
    const [scrap, drift] = await Promise.all([json<Scrap>(s, `/v1/batches/${encodeURIComponent(batchId)}/scrap`), json<Drift>(s, `/v1/batches/${encodeURIComponent(batchId)}/drift`)]);
    const figure = (id: string, label: string, value: string) => h('div', { class: 'figure' }, h('dt', {}, label), h('dd', { id, 'data-value': value }, value));
    const canvas = h('canvas', { id: 'pareto-chart', role: 'img', 'aria-label': 'Pareto chart of failure causes: counts as bars, cumulative share as a line (the table below has the figures)' });
    const firstDrift = drift.driftedUnits.flatMap((u) => u.deviations.map((d) => ({ ...d, serial: u.serial }))).sort((a, b) => a.at.localeCompare(b.at));
    const driftStations = new Map<string, number>();
    for (const d of firstDrift) driftStations.set(d.station, (driftStations.get(d.station) ?? 0) + 1);
    out.replaceChildren(
      h(
        'dl',
        { class: 'figures' },
        figure('fig-started', 'Units started', String(scrap.started)),
        figure('fig-completed', 'Completed', String(scrap.completed)),
        figure('fig-fpy', 'First-pass yield', pct(scrap.firstPassYield)),
        figure('fig-reworked', 'Reworked', String(scrap.reworked)),
        figure('fig-scrapped', 'Scrapped', String(scrap.scrapped)),
        figure('fig-scrap-rate', 'Scrap rate', pct(scrap.scrapRate)),
        figure('fig-drifted', 'Drifted units', String(drift.drifted)),
      ),
      h('p', { id: 'scrap-band' }, `Scrap rate ${pct(scrap.scrapRate)}: ${scrapBand(scrap.scrapRate)}.`),
      h('h3', {}, 'Failure causes (Pareto)'),
      h('div', { class: 'chart' }, canvas),
      table('Failure causes', ['step', 'error code', 'count', 'share', 'cumulative'], scrap.pareto.map((p) => [p.step, p.errorCode, p.count, pct(p.share), pct(p.cumulativeShare)]), 'pareto'),
      table('Retries per step', ['step', 'retries'], Object.entries(scrap.retriesPerStep).map(([k, v]) => [k, v]), 'retries'),
      table('By station', ['station', 'started', 'first-pass yield', 'scrapped', 'scrap rate'], scrap.byStation.map((b) => [b.station ?? '-', b.started, pct(b.firstPassYield), b.scrapped, pct(b.scrapRate)]), 'by-station'),
      h('h3', {}, 'Configuration drift'),
      h('p', { id: 'drift-summary' }, drift.drifted === 0 ? 'No unit differs from the release.' : `${drift.drifted} of ${drift.units} units (${pct(drift.driftRate)}) differ from the release; first seen ${firstDrift[0]?.at ?? '-'} at ${firstDrift[0]?.station ?? '-'}.`),
      table('Drift by dimension', ['dimension', 'units'], Object.entries(drift.byDimension).filter(([, n]) => n > 0).map(([k, v]) => [k, v]), 'drift-dimensions'),
      table('Drift by station', ['station', 'deviations'], [...driftStations.entries()].map(([k, v]) => [k, v]), 'drift-stations'),
      table('Units that differ from the release (over time)', ['time', 'serial', 'dimension', 'value', 'expected', 'station'], firstDrift.map((d) => [d.at, d.serial, d.dimension, d.value, d.expected, d.station]), 'drift-units'),
    );
    pareto?.destroy();
    pareto = new Chart(canvas, {
      data: {
        labels: scrap.pareto.map((p) => `${p.step} ${p.errorCode}`),
        datasets: [
          { type: 'bar', label: 'failures', data: scrap.pareto.map((p) => p.count), backgroundColor: '#1f5fbf', yAxisID: 'y' },
          { type: 'line', label: 'cumulative share (%)', data: scrap.pareto.map((p) => Math.round(p.cumulativeShare * 1000) / 10), borderColor: '#b3261e', backgroundColor: '#b3261e', yAxisID: 'share' },
        ],
      },
      options: { animation: false, responsive: true, maintainAspectRatio: false, scales: { y: { beginAtZero: true, title: { display: true, text: 'failures' } }, share: { position: 'right', min: 0, max: 100, title: { display: true, text: '%' } } } },
    });
    out.dataset['updated'] = new Date().toISOString();
  };
  refresh = render;
  try {
    await render();
  } catch (e) {
    out.replaceChildren(h('p', { class: 'error', role: 'alert' }, (e as Error).message));
  }
}

function route(): void {
  session ??= loadSession();
  if (!session) return showLogin();
  const s = session;
  showNav(s);
  refresh = null;
  if (s.role !== 'auditor' && s.role !== 'admin') {
    main.replaceChildren(h('p', { id: 'no-pages' }, `A ${s.role} token has no pages here: the web interface is for auditors, quality and line engineers (auditor or admin tokens).`));
    return;
  }
  const [, page = 'units', arg = ''] = location.hash.split('/');
  const value = decodeURIComponent(arg);
  if (page === 'firmware') void firmwarePage(s, value);
  else if (page === 'batches') void batchPage(s, value);
  else void unitPage(s, value);
  if (!live) {
    live = new AbortController();
    // Live updates: the ledger says when new events were appended; the open dashboard reloads its figures.
    void subscribe(s, '/ui/live', () => void refresh?.().catch(() => undefined), live.signal).catch(() => undefined);
  }
}

window.addEventListener('hashchange', route);
route();
