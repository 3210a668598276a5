/** `flashtrail cra units`: the shipped units carrying a component, or affected by a vulnerability, as shipped or now. */
import { defineCommand } from '../command.ts';
import { UsageError } from '../errors.ts';
import { getAnswer, LEDGER_ACCESS_ENVIRONMENT, LEDGER_ACCESS_OPTIONS, ledgerAccess, pretty, writeAnswer } from '../ledger-access.ts';

const command = defineCommand({
  usage: ['(--purl PURL | --cpe CPE | --name NAME | --vulnerability ID) [--range RANGE] [--status S,…] [--view now|shipped] [--format json|csv|ndjson] [--supported] [--out FILE]'],
  description: [
    'Finds the releases whose SBOM lists the component (purl with a vers: or semver range, CPE 2.3, or name),',
    'or that the current assessments of a vulnerability name with the given statuses (default affected and',
    'under_investigation), then the shipped units carrying them: now (after field updates, the default) or as',
    'shipped. Each unit with its customer, order, ship date, releases and support end.',
  ].join('\n'),
  options: {
    purl: { type: 'string', value: 'PURL', help: 'e.g. pkg:github/Mbed-TLS/mbedtls' },
    cpe: { type: 'string', value: 'CPE', help: 'e.g. cpe:2.3:a:arm:mbed_tls:*:*:*:*:*:*:*:*' },
    name: { type: 'string', value: 'NAME', help: 'a component name, e.g. lwip' },
    group: { type: 'string', value: 'GROUP', help: 'with --name: the component group' },
    range: { type: 'string', value: 'RANGE', help: "vers:generic/>=3.0.0|<3.5.2, or a semver range '<3.5.2'" },
    vulnerability: { type: 'string', value: 'ID', help: 'CVE-…, GHSA-… or EUVD-…: the releases its assessments name' },
    status: { type: 'string', value: 'S,…', help: 'with --vulnerability: affected, under_investigation, fixed, not_affected' },
    view: { type: 'string', value: 'now|shipped', help: 'the firmware units carry today (default), or as they shipped' },
    format: { type: 'string', value: 'json|csv|ndjson', help: 'default json' },
    supported: { type: 'boolean', help: 'only units whose support period still runs' },
    out: { type: 'string', value: 'FILE', help: 'write here (durably) instead of stdout' },
    ...LEDGER_ACCESS_OPTIONS,
  },
  environment: LEDGER_ACCESS_ENVIRONMENT,
  async run({ values }) {
    const given = ['purl', 'cpe', 'name', 'vulnerability'].filter((k) => values[k as 'purl'] !== undefined);
    if (given.length !== 1) throw new UsageError('give exactly one of --purl, --cpe, --name, --vulnerability');
    const format = values.format ?? 'json';
    if (!['json', 'csv', 'ndjson'].includes(format)) throw new UsageError(`--format must be json, csv or ndjson, not ${format}`);
    const access = ledgerAccess(values);
    const query = { purl: values.purl, cpe: values.cpe, name: values.name, group: values.group, range: values.range, vulnerability: values.vulnerability, status: values.status, view: values.view, supported: values.supported ? 'true' : undefined };
    if (format !== 'json') {
      writeAnswer(await getAnswer(access, '/v1/cra/units', { ...query, format }), values.out);
      return 0;
    }
    // Every page, as one document.
    let first: Record<string, unknown> | null = null;
    const units: unknown[] = [];
    let after: string | undefined;
    do {
      const page = JSON.parse(await getAnswer(access, '/v1/cra/units', { ...query, limit: '1000', after })) as { units: unknown[]; next: string | null };
      first ??= page;
      units.push(...page.units);
      after = page.next ?? undefined;
    } while (after !== undefined);
    writeAnswer(pretty(JSON.stringify({ ...first, units, next: null })), values.out);
    return 0;
  },
});

export default command;
