/**
 * The content ENISA's single reporting platform (CRA Art. 16) asks for at each Art. 14(2) stage of an
 * actively exploited vulnerability, filled from what the ledger knows, as one document the operator pastes
 * into the web form or attaches. The platform has no API; this prepares the content, it submits nothing.
 *
 * What each stage must contain is the regulation's text: early warning (a) — where applicable, the Member
 * States in which the manufacturer is aware the product has been made available; notification (b) —
 * general information about the product, the general nature of the exploit and of the vulnerability, any
 * corrective or mitigating measures taken and those users can take, and how sensitive the manufacturer
 * considers the information; final report (c) — a description of the vulnerability including its severity
 * and impact, where available information on any malicious actor exploiting it, and details of the
 * security update or other corrective measures made available. Every field of an earlier stage is repeated
 * in the later ones, as the platform's form builds on the earlier submission.
 */
import type { ReportStage } from './art14.ts';
import type { VexStatus } from './vex.ts';

export interface EnisaInput {
  readonly stage: ReportStage;
  readonly manufacturer: { readonly name: string; readonly contact?: string };
  readonly product: { readonly name: string; readonly sku?: string; readonly description?: string };
  readonly vulnerability: { readonly id: string; readonly aliases?: readonly string[]; readonly description?: string; readonly severity?: string; readonly exploitNature?: string };
  readonly affectedVersions: readonly { readonly releaseId: string; readonly version: string; readonly units: number }[];
  /** Units carrying an affected version now, in total and by customer. */
  readonly affectedUnits: { readonly total: number; readonly byCustomer?: Readonly<Record<string, number>> };
  /** ISO 3166-1 alpha-2 codes of the Member States where the product was made available, where known. */
  readonly memberStates?: readonly string[];
  readonly status: VexStatus;
  readonly correctiveMeasures?: readonly string[];
  readonly userMeasures?: readonly string[];
  readonly sensitivity?: string;
  readonly maliciousActor?: string;
  readonly securityUpdate?: string;
}

export interface EnisaField {
  readonly label: string;
  readonly article: string;
  readonly value?: string;
  /** Required at this stage by the text; `where-applicable` fields are asked for but may be unknown. */
  readonly requirement: 'required' | 'where-applicable';
}

export interface EnisaDocument {
  readonly stage: ReportStage;
  readonly fields: readonly EnisaField[];
  /** Labels of required fields without a value. */
  readonly missing: readonly string[];
  /** The same as plain text, one "Label: value" block per field. */
  readonly text: string;
}

const STAGE_ORDER: Record<ReportStage, number> = { early_warning: 0, notification: 1, final_report: 2 };
const STAGE_TITLE: Record<ReportStage, string> = { early_warning: 'Early warning (Art. 14(2)(a))', notification: 'Vulnerability notification (Art. 14(2)(b))', final_report: 'Final report (Art. 14(2)(c))' };

const join = (list: readonly string[] | undefined): string | undefined => (list && list.length > 0 ? list.join('; ') : undefined);

export function enisaDocument(input: EnisaInput): EnisaDocument {
  const at = STAGE_ORDER[input.stage];
  const fields: EnisaField[] = [];
  const add = (from: ReportStage, label: string, article: string, requirement: EnisaField['requirement'], value: string | undefined): void => {
    if (STAGE_ORDER[from] <= at) fields.push({ label, article, requirement, ...(value !== undefined && value !== '' ? { value } : {}) });
  };
  const versions = input.affectedVersions.map((v) => `${v.version} (release ${v.releaseId}, ${v.units} unit${v.units === 1 ? '' : 's'})`).join('; ');
  const byCustomer = input.affectedUnits.byCustomer ? Object.entries(input.affectedUnits.byCustomer).sort(([a], [b]) => (a < b ? -1 : 1)).map(([c, n]) => `${c}: ${n}`).join('; ') : undefined;
  add('early_warning', 'Manufacturer', 'Art. 14(1)', 'required', [input.manufacturer.name, input.manufacturer.contact].filter(Boolean).join(', '));
  add('early_warning', 'Product', 'Art. 14(2)(a)', 'required', [input.product.name, input.product.sku ? `SKU ${input.product.sku}` : undefined].filter(Boolean).join(', '));
  add('early_warning', 'Vulnerability', 'Art. 14(2)(a)', 'required', [input.vulnerability.id, ...(input.vulnerability.aliases ?? [])].join(', '));
  add('early_warning', 'Affected versions', 'Art. 14(2)(a)', 'required', versions || undefined);
  add('early_warning', 'Affected units', 'Art. 14(2)(a)', 'required', `${input.affectedUnits.total}${byCustomer ? ` (${byCustomer})` : ''}`);
  add('early_warning', 'Member States where the product has been made available', 'Art. 14(2)(a)', 'where-applicable', join(input.memberStates));
  add('early_warning', 'Status of the assessment', 'Art. 14(2)', 'required', input.status);
  add('notification', 'General information about the product', 'Art. 14(2)(b)', 'required', input.product.description);
  add('notification', 'General nature of the exploit and of the vulnerability', 'Art. 14(2)(b)', 'required', [input.vulnerability.exploitNature, input.vulnerability.description].filter(Boolean).join(' — ') || undefined);
  add('notification', 'Corrective or mitigating measures taken', 'Art. 14(2)(b)', 'required', join(input.correctiveMeasures));
  add('notification', 'Corrective or mitigating measures users can take', 'Art. 14(2)(b)', 'required', join(input.userMeasures));
  add('notification', 'Sensitivity of the notified information', 'Art. 14(2)(b)', 'required', input.sensitivity);
  add('final_report', 'Description of the vulnerability, including its severity and impact', 'Art. 14(2)(c)(i)', 'required', [input.vulnerability.description, input.vulnerability.severity ? `Severity: ${input.vulnerability.severity}` : undefined].filter(Boolean).join(' — ') || undefined);
  add('final_report', 'Information concerning any malicious actor that has exploited or is exploiting the vulnerability', 'Art. 14(2)(c)(ii)', 'where-applicable', input.maliciousActor);
  add('final_report', 'Details about the security update or other corrective measures made available', 'Art. 14(2)(c)(iii)', 'required', input.securityUpdate);
  const missing = fields.filter((f) => f.requirement === 'required' && f.value === undefined).map((f) => f.label);
  const text = [STAGE_TITLE[input.stage], '', ...fields.map((f) => `${f.label} [${f.article}]:\n  ${f.value ?? (f.requirement === 'required' ? '(MISSING)' : '(not known)')}`)].join('\n');
  return { stage: input.stage, fields, missing, text: `${text}\n` };
}
