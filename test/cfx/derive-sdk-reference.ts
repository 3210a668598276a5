/**
 * Derives test/cfx/sdk-reference.json from the IPC-CFX SDK's own source (github.com/IPCConnectedFactoryExchange/CFX),
 * so that our serialisation can be compared with what the SDK declares and documents, without copying it:
 *
 *   - per class: its base class and its serialised properties in the order Newtonsoft.Json writes them
 *     (the class's own declared properties first, then its base class's, as Type.GetProperties returns them;
 *     on an OptIn class such as CFXEnvelope only the [JsonProperty] ones), each with its C# type;
 *   - per enum: its member names (the SDK writes every enum we use as a string, [JsonConverter(StringEnumConverter)]);
 *   - per class: the *shape* of each example in its documentation comment (<code language="none"> blocks that
 *     are valid JSON): member names in order and the JSON kind of each value (string, guid, date-time, number,
 *     boolean, null, object, array), never the values themselves.
 *
 * Run it against a clone (a bare git directory is enough) to refresh the reference:
 *   npx tsx test/cfx/derive-sdk-reference.ts /path/to/CFX.git [commit]
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The classes our CFX output uses (and the SDK example structures they are compared with). */
const ROOT_CLASSES = [
  'CFX.CFXEnvelope',
  'CFX.Production.WorkStarted',
  'CFX.Production.WorkCompleted',
  'CFX.Production.Assembly.UnitsPersonalized',
  'CFX.Production.TestAndInspection.UnitsTested',
  'CFX.Production.Processing.UnitsProcessed',
  'CFX.Production.UnitsDisqualified',
  'CFX.ResourcePerformance.FaultOccurred',
  'CFX.ResourcePerformance.FaultCleared',
  'CFX.InformationSystem.UnitValidation.ValidateUnitsRequest',
  'CFX.InformationSystem.UnitValidation.ValidateUnitsResponse',
  'CFX.NotSupportedResponse',
  'CFX.Structures.TextMeasurement',
  'CFX.Structures.NumericMeasurement',
  'CFX.Structures.Generic.GenericProcessData',
];

export interface DerivedProperty {
  readonly name: string;
  /** The C# type as declared, e.g. `Guid`, `int?`, `List<UnitPosition>`, `TestResult`. */
  readonly type: string;
}

export type Shape =
  | { readonly kind: 'object'; readonly members: readonly (readonly [string, Shape])[] }
  | { readonly kind: 'array'; readonly items: readonly Shape[] }
  | { readonly kind: 'string'; readonly format: 'guid' | 'date-time' | 'text' }
  /** A `$type` member: the class name is kept, being a type, not data. */
  | { readonly kind: 'type'; readonly name: string }
  | { readonly kind: 'number' | 'boolean' | 'null' };

export interface DerivedClass {
  readonly file: string;
  readonly base: string | null;
  readonly abstract: boolean;
  /** Serialised properties in Newtonsoft order (own, then inherited). */
  readonly properties: readonly DerivedProperty[];
  readonly examples: readonly Shape[];
}

export interface SdkReference {
  readonly source: { readonly repository: string; readonly commit: string; readonly derivedBy: string; readonly note: string };
  readonly classes: Readonly<Record<string, DerivedClass>>;
  readonly enums: Readonly<Record<string, readonly string[]>>;
}

interface ParsedClass {
  readonly fullName: string;
  readonly namespace: string;
  readonly file: string;
  readonly baseName: string | null;
  readonly abstract: boolean;
  readonly ownProperties: DerivedProperty[];
  readonly examples: Shape[];
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,7})?(Z|[+-]\d{2}:\d{2})$/;

function shapeOf(value: unknown): Shape {
  if (value === null) return { kind: 'null' };
  if (Array.isArray(value)) return { kind: 'array', items: value.map(shapeOf) };
  if (typeof value === 'object') {
    return { kind: 'object', members: Object.entries(value as object).map(([k, v]) => [k, k === '$type' && typeof v === 'string' ? { kind: 'type', name: v } : shapeOf(v)] as const) };
  }
  if (typeof value === 'string') return { kind: 'string', format: GUID.test(value) ? 'guid' : DATE_TIME.test(value) ? 'date-time' : 'text' };
  if (typeof value === 'number') return { kind: 'number' };
  return { kind: 'boolean' };
}

/** The JSON examples in a class's documentation comment: `/// <code language="none"> … /// </code>`. */
function docExamples(comment: string[]): Shape[] {
  const shapes: Shape[] = [];
  let block: string[] | null = null;
  for (const line of comment) {
    if (/<code language="none">/.test(line)) block = [];
    else if (/<\/code>/.test(line) && block) {
      try {
        shapes.push(shapeOf(JSON.parse(block.join('\n'))));
      } catch {
        // Some examples in the SDK are not valid JSON (trailing commas, unquoted dates): they say nothing exact.
      }
      block = null;
    } else if (block) block.push(line.replace(/^\s*\/\/\/ ?/, ''));
  }
  return shapes;
}

function parseFile(file: string, text: string): { classes: ParsedClass[]; enums: Map<string, string[]> } {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const namespace = /namespace\s+([\w.]+)/.exec(text)?.[1] ?? '';
  const classes: ParsedClass[] = [];
  const enums = new Map<string, string[]>();
  let comment: string[] = [];
  let current: { cls: ParsedClass; optIn: boolean } | null = null;
  let currentEnum: string[] | null = null;
  let attributes: string[] = [];
  let depth = 0;
  let memberDepth = -1;
  for (const raw of lines) {
    const line = raw.trim();
    if (line.startsWith('///')) {
      comment.push(raw);
      continue;
    }
    const code = line.replace(/\/\/.*$/, '').trim();
    if (code.startsWith('[')) {
      attributes.push(code);
    }
    const classMatch = /^(?:public|internal)\s+(abstract\s+)?(?:abstract\s+)?(?:partial\s+)?class\s+(\w+)(?:\s*:\s*([\w.]+))?/.exec(code) ?? /^abstract\s+public\s+class\s+(\w+)(?:\s*:\s*([\w.]+))?/.exec(code);
    const enumMatch = /^public\s+enum\s+(\w+)/.exec(code);
    if (classMatch && !code.includes('(')) {
      const isAbstractFirst = code.startsWith('abstract');
      const name = (isAbstractFirst ? classMatch[1] : classMatch[2]) as string;
      const base = (isAbstractFirst ? classMatch[2] : classMatch[3]) ?? null;
      const cls: ParsedClass = {
        fullName: `${namespace}.${name}`,
        namespace,
        file,
        baseName: base,
        abstract: /\babstract\b/.test(code),
        ownProperties: [],
        examples: docExamples(comment),
      };
      classes.push(cls);
      current = { cls, optIn: attributes.some((a) => a.includes('MemberSerialization.OptIn')) };
      currentEnum = null;
      memberDepth = depth + 1;
    } else if (enumMatch) {
      currentEnum = [];
      enums.set(`${namespace}.${enumMatch[1] as string}`, currentEnum);
      current = null;
      memberDepth = depth + 1;
    } else if (current && depth === memberDepth) {
      const prop = /^public\s+(?:virtual\s+|override\s+|new\s+)?([\w<>,.?[\] ]+?)\s+(\w+)\s*(\{.*)?$/.exec(code);
      const ignored = attributes.some((a) => a.startsWith('[JsonIgnore'));
      const declared = !current.optIn || attributes.some((a) => a.startsWith('[JsonProperty'));
      if (prop && !/\b(class|enum|const|static|event|delegate)\b/.test(code) && !code.includes('(') && !ignored && declared) {
        current.cls.ownProperties.push({ name: prop[2] as string, type: (prop[1] as string).replace(/\s+/g, '') });
      }
    } else if (currentEnum && depth === memberDepth) {
      for (const m of code.split(',')) {
        const member = m.replace(/\[.*?\]/g, '').replace(/=.*$/, '').trim();
        if (/^\w+$/.test(member)) currentEnum.push(member);
      }
    }
    if (!code.startsWith('[') && code !== '') attributes = [];
    if (code !== '' && !code.startsWith('[')) comment = [];
    for (const ch of code) {
      if (ch === '{') depth++;
      else if (ch === '}') depth--;
    }
  }
  return { classes, enums };
}

function git(gitDir: string, args: string[]): string {
  return execFileSync('git', ['--git-dir', gitDir, ...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
}

export function deriveSdkReference(gitDir: string, commit = 'HEAD'): SdkReference {
  const resolved = git(gitDir, ['rev-parse', commit]).trim();
  const files = git(gitDir, ['ls-tree', '-r', '--name-only', resolved, 'CFX']).split('\n').filter((f) => f.endsWith('.cs'));
  const classes = new Map<string, ParsedClass>();
  const enums = new Map<string, string[]>();
  for (const file of files) {
    const parsed = parseFile(file, git(gitDir, ['show', `${resolved}:${file}`]));
    for (const c of parsed.classes) classes.set(c.fullName, c);
    for (const [k, v] of parsed.enums) enums.set(k, v);
  }
  // Resolve a simple type name as C# would here: the class's own namespace, its parents, then CFX.Structures.
  const resolve = (name: string, from: string, table: Map<string, unknown>): string | null => {
    if (table.has(name)) return name;
    const parts = from.split('.');
    for (let i = parts.length; i > 0; i--) {
      const candidate = `${parts.slice(0, i).join('.')}.${name}`;
      if (table.has(candidate)) return candidate;
    }
    for (const ns of ['CFX.Structures', 'CFX.Structures.Generic', 'CFX']) if (table.has(`${ns}.${name}`)) return `${ns}.${name}`;
    return null;
  };
  const out: Record<string, DerivedClass> = {};
  const outEnums: Record<string, string[]> = {};
  const visit = (fullName: string) => {
    if (out[fullName]) return;
    const cls = classes.get(fullName);
    if (!cls) throw new Error(`class ${fullName} not found in the SDK`);
    const chain: ParsedClass[] = [];
    for (let c: ParsedClass | undefined = cls; c; ) {
      chain.push(c);
      const baseName: string | null = c.baseName && c.baseName !== 'CFXMessage' ? resolve(c.baseName, c.namespace, classes) : null;
      c = baseName ? classes.get(baseName) : undefined;
    }
    const base = cls.baseName && cls.baseName !== 'CFXMessage' ? resolve(cls.baseName, cls.namespace, classes) : null;
    out[fullName] = { file: cls.file, base, abstract: cls.abstract, properties: chain.flatMap((c) => c.ownProperties), examples: cls.examples };
    if (base) visit(base);
    for (const p of out[fullName].properties) {
      for (const typeName of p.type.split(/[<>,?[\]]/).filter((t) => /^[A-Z]\w*$/.test(t))) {
        const asClass = resolve(typeName, cls.namespace, classes);
        if (asClass && asClass.startsWith('CFX.') && asClass !== 'CFX.CFXMessage') visit(asClass);
        const asEnum = resolve(typeName, cls.namespace, enums);
        if (asEnum) outEnums[asEnum] = enums.get(asEnum) as string[];
      }
    }
  };
  for (const c of ROOT_CLASSES) visit(c);
  const sorted = <T>(o: Record<string, T>) => Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
  return {
    source: {
      repository: 'https://github.com/IPCConnectedFactoryExchange/CFX',
      commit: resolved,
      derivedBy: 'test/cfx/derive-sdk-reference.ts',
      note: 'Derived from the SDK source: property lists, enum members, and the shapes (names, order, JSON kinds; no values) of the documentation examples.',
    },
    classes: sorted(out),
    enums: sorted(outEnums),
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [gitDir, commit] = process.argv.slice(2);
  if (!gitDir) {
    console.error('usage: npx tsx test/cfx/derive-sdk-reference.ts CFX.git [commit]');
    process.exit(2);
  }
  const reference = deriveSdkReference(gitDir, commit);
  const target = fileURLToPath(new URL('./sdk-reference.json', import.meta.url));
  // One class or enum per line: small, and a refresh shows as a readable diff.
  const entries = (o: Readonly<Record<string, unknown>>) => Object.entries(o).map(([k, v]) => `    ${JSON.stringify(k)}: ${JSON.stringify(v)}`).join(',\n');
  const text = `{\n  "source": ${JSON.stringify(reference.source)},\n  "classes": {\n${entries(reference.classes)}\n  },\n  "enums": {\n${entries(reference.enums)}\n  }\n}\n`;
  writeFileSync(target, text);
  console.log(`wrote ${target}: ${Object.keys(reference.classes).length} classes, ${Object.keys(reference.enums).length} enums, commit ${reference.source.commit}`);
}
