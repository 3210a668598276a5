/**
 * Holds a CFX JSON text to what the CFX SDK declares and documents (test/cfx/sdk-reference.json, derived from
 * the SDK's source by derive-sdk-reference.ts):
 *
 *   checkAgainstSdkClasses: every object's members are exactly the SDK class's serialised properties, in
 *   Newtonsoft's order, `$type` first where (and only where) Newtonsoft writes one (the runtime class differs
 *   from the declared one); every value has its C# type's JSON form (a Guid, a DateTime with offset, an int
 *   without a decimal point, a double with one, an enum member's name, a list, null only where C# allows it).
 *
 *   compareWithSdkExamples: member by member against the shapes of the SDK documentation's examples of the
 *   class: every member an example shows (and our class declares) is there, in the example's relative order,
 *   with the example's JSON kind.
 *
 * Both return the problems found, each naming the JSON path, so that a test can show they do find problems.
 */
import referenceJson from './sdk-reference.json' with { type: 'json' };
import type { SdkReference, Shape } from './derive-sdk-reference.ts';

export const SDK = referenceJson as unknown as SdkReference;

/** A JSON value with its members in text order and its numbers as written. */
export type Node =
  | { readonly kind: 'object'; readonly members: readonly (readonly [string, Node])[] }
  | { readonly kind: 'array'; readonly items: readonly Node[] }
  | { readonly kind: 'string'; readonly value: string }
  | { readonly kind: 'number'; readonly raw: string }
  | { readonly kind: 'boolean' }
  | { readonly kind: 'null' };

/** A small JSON reader that keeps what JSON.parse loses: member order as written and numbers' text. */
export function parseJsonText(text: string): Node {
  let i = 0;
  const ws = () => {
    while (/\s/.test(text[i] ?? '')) i++;
  };
  const value = (): Node => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const members: [string, Node][] = [];
      ws();
      if (text[i] === '}') return i++, { kind: 'object', members };
      for (;;) {
        ws();
        const key = value();
        if (key.kind !== 'string') throw new Error(`member name expected at ${i}`);
        ws();
        if (text[i++] !== ':') throw new Error(`':' expected at ${i}`);
        members.push([key.value, value()]);
        ws();
        const sep = text[i++];
        if (sep === '}') return { kind: 'object', members };
        if (sep !== ',') throw new Error(`',' or '}' expected at ${i}`);
      }
    }
    if (c === '[') {
      i++;
      const items: Node[] = [];
      ws();
      if (text[i] === ']') return i++, { kind: 'array', items };
      for (;;) {
        items.push(value());
        ws();
        const sep = text[i++];
        if (sep === ']') return { kind: 'array', items };
        if (sep !== ',') throw new Error(`',' or ']' expected at ${i}`);
      }
    }
    if (c === '"') {
      const start = i;
      i++;
      while (text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
      i++;
      return { kind: 'string', value: JSON.parse(text.slice(start, i)) as string };
    }
    const literal = /^(true|false|null|-?\d+(\.\d+)?([eE][+-]?\d+)?)/.exec(text.slice(i));
    if (!literal) throw new Error(`unexpected ${c} at ${i}`);
    i += literal[0].length;
    if (literal[0] === 'null') return { kind: 'null' };
    if (literal[0] === 'true' || literal[0] === 'false') return { kind: 'boolean' };
    return { kind: 'number', raw: literal[0] };
  };
  const result = value();
  ws();
  if (i !== text.length) throw new Error(`trailing text at ${i}`);
  return result;
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** Newtonsoft's DateTime format with an offset: yyyy-MM-ddTHH:mm:ss.FFFFFFFK (K an offset or Z). */
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{0,6}[1-9])?([+-]\d{2}:\d{2}|Z)$/;

function resolve(simpleName: string, table: Readonly<Record<string, unknown>>): string | null {
  const found = Object.keys(table).filter((k) => k === simpleName || k.endsWith(`.${simpleName}`));
  if (found.length > 1) throw new Error(`${simpleName} is ambiguous in the SDK reference: ${found.join(', ')}`);
  return found[0] ?? null;
}

function isSubclass(cls: string, of: string): boolean {
  for (let c: string | null = cls; c; c = SDK.classes[c]?.base ?? null) if (c === of) return true;
  return false;
}

const typeOfTag = (tag: string) => tag.replace(/, CFX$/, '');

/** Problems of `node` as a value of C# type `type` (as the SDK declares it), at `path`. */
function checkValue(node: Node, type: string, path: string, problems: string[]): void {
  const nullable = type.endsWith('?');
  const base = nullable ? type.slice(0, -1) : type;
  const isValueType = ['int', 'double', 'bool', 'Guid', 'DateTime', 'long', 'float', 'decimal'].includes(base) || resolve(base, SDK.enums) !== null;
  if (node.kind === 'null') {
    if (isValueType && !nullable) problems.push(`${path}: null, but ${type} is not nullable`);
    return;
  }
  const list = /^(?:List|IEnumerable|ICollection|IList)<(.+)>$/.exec(base);
  if (list) {
    if (node.kind !== 'array') return void problems.push(`${path}: ${type} must be a JSON array, not ${node.kind}`);
    node.items.forEach((item, i) => checkValue(item, list[1] as string, `${path}[${i}]`, problems));
    return;
  }
  if (/^Dictionary<string,string>$/.test(base)) {
    if (node.kind !== 'object') return void problems.push(`${path}: a Dictionary<string,string> is a JSON object`);
    for (const [k, v] of node.members) if (v.kind !== 'string' && v.kind !== 'null') problems.push(`${path}.${k}: dictionary values are strings`);
    return;
  }
  switch (base) {
    case 'string':
      if (node.kind !== 'string') problems.push(`${path}: string expected, not ${node.kind}`);
      return;
    case 'Guid':
      if (node.kind !== 'string' || !GUID.test(node.value)) problems.push(`${path}: a Guid is written as a lowercase "D"-format string`);
      return;
    case 'DateTime':
      if (node.kind !== 'string' || !DATE_TIME.test(node.value)) problems.push(`${path}: a DateTime is written as ISO 8601 with an offset, as Newtonsoft writes it`);
      return;
    case 'int':
    case 'long':
      if (node.kind !== 'number' || !/^-?\d+$/.test(node.raw)) problems.push(`${path}: an ${base} is written without a decimal point`);
      return;
    case 'double':
      if (node.kind !== 'number' || !/[.E]/.test(node.raw)) problems.push(`${path}: a double is written with a decimal point (Newtonsoft writes 0 as 0.0)`);
      return;
    case 'bool':
      if (node.kind !== 'boolean') problems.push(`${path}: a bool is true or false`);
      return;
  }
  const asEnum = resolve(base, SDK.enums);
  if (asEnum) {
    const members = SDK.enums[asEnum] as readonly string[];
    if (node.kind !== 'string' || !members.includes(node.value)) problems.push(`${path}: ${asEnum} is written as one of its member names (${members.join(', ')})`);
    return;
  }
  if (node.kind !== 'object') return void problems.push(`${path}: ${base} is a JSON object, not ${node.kind}`);
  const declared = base === 'object' ? null : resolve(base, SDK.classes);
  if (base !== 'object' && !declared) return void problems.push(`${path}: ${base} is not a class of the SDK reference`);
  const tag = node.members[0]?.[0] === '$type' ? node.members[0][1] : null;
  let cls = declared;
  if (tag) {
    if (tag.kind !== 'string') return void problems.push(`${path}.$type: a string`);
    const runtime = typeOfTag(tag.value);
    if (!SDK.classes[runtime]) return void problems.push(`${path}.$type: ${tag.value} is not an SDK class`);
    if (declared && !isSubclass(runtime, declared)) return void problems.push(`${path}.$type: ${runtime} is not a ${declared}`);
    if (declared === runtime) problems.push(`${path}.$type: Newtonsoft (TypeNameHandling.Auto) writes no $type when the value is of its declared type ${declared}`);
    cls = runtime;
  } else if (!declared) {
    return void problems.push(`${path}: a member declared as object carries $type first (TypeNameHandling.Auto)`);
  } else if (SDK.classes[declared]?.abstract) {
    return void problems.push(`${path}: ${declared} is abstract, so Newtonsoft writes the concrete class as $type first`);
  }
  const klass = SDK.classes[cls as string];
  if (!klass) return;
  const names = node.members.map(([k]) => k).filter((k) => k !== '$type');
  const expected = klass.properties.map((p) => p.name);
  if (names.join(',') !== expected.join(',')) {
    problems.push(`${path}: members ${names.join(', ')} differ from ${cls}'s serialised properties in order ${expected.join(', ')}`);
  }
  if (node.members.slice(1).some(([k]) => k === '$type')) problems.push(`${path}: $type must come first`);
  for (const p of klass.properties) {
    const member = node.members.find(([k]) => k === p.name);
    if (member) checkValue(member[1], p.type, `${path}.${p.name}`, problems);
  }
}

/** Checks a CFX envelope's JSON text against the SDK's classes. */
export function checkAgainstSdkClasses(json: string): string[] {
  const problems: string[] = [];
  checkValue(parseJsonText(json), 'CFXEnvelope', '$', problems);
  return problems;
}

function kindOf(node: Node): string {
  if (node.kind === 'string') return GUID.test(node.value) ? 'guid' : DATE_TIME.test(node.value) ? 'date-time' : 'text';
  return node.kind;
}

function compareShape(example: Shape, node: Node, path: string, cls: string | null, problems: string[], root = false): void {
  if (example.kind === 'null' || example.kind === 'type') return; // null: the example leaves the value out; $type: compared below
  if (node.kind === 'null') return; // ours is null where the example shows a value: allowed by the C# type (checked above)
  if (example.kind === 'string') {
    const ours = kindOf(node);
    // A text in the example may be an identifier ours writes as a GUID (UniqueIdentifier is a string).
    if (node.kind !== 'string' || (example.format !== 'text' && ours !== example.format)) problems.push(`${path}: the SDK example writes a ${example.format} string, ours is ${ours}`);
    return;
  }
  if (example.kind !== node.kind) return void problems.push(`${path}: the SDK example writes ${example.kind}, ours is ${node.kind}`);
  if (example.kind === 'array' && node.kind === 'array') {
    const first = example.items[0];
    if (first) node.items.forEach((item, i) => compareShape(first, item, `${path}[${i}]`, cls, problems));
    return;
  }
  if (example.kind !== 'object' || node.kind !== 'object') return;
  const exampleTag = example.members.find(([k]) => k === '$type');
  const ourTag = node.members.find(([k]) => k === '$type')?.[1];
  const ourClass = ourTag?.kind === 'string' ? typeOfTag(ourTag.value) : cls;
  // Where the example is another subclass (a NumericMeasurement where ours is a TextMeasurement), compare what
  // both declare: the base class's members.
  const declaredByUs = ourClass ? new Set(SDK.classes[ourClass]?.properties.map((p) => p.name)) : null;
  const shared = example.members.filter(([k]) => k !== '$type' && (!declaredByUs || declaredByUs.has(k)));
  let last = -1;
  for (const [key, shape] of shared) {
    const index = node.members.findIndex(([k]) => k === key);
    if (index < 0) {
      problems.push(`${path}.${key}: shown in the SDK example, missing in ours`);
      continue;
    }
    if (index < last) problems.push(`${path}.${key}: comes before a member the SDK example writes before it`);
    last = Math.max(last, index);
    const propType = ourClass ? SDK.classes[ourClass]?.properties.find((p) => p.name === key)?.type : undefined;
    compareShape(shape, node.members[index]?.[1] as Node, `${path}.${key}`, propType ? classOfType(propType) : null, problems);
  }
  // The same class in the example and in ours: Newtonsoft writes $type for it in both or in neither.
  const exampleClass = exampleTag?.[1].kind === 'type' ? typeOfTag(exampleTag[1].name) : cls;
  // (The SDK documents a message body serialised alone, where no $type is written at its root.)
  if (!root && exampleClass === ourClass && Boolean(exampleTag) !== Boolean(ourTag)) problems.push(`${path}: the SDK example ${exampleTag ? 'writes' : 'does not write'} $type here, ours ${ourTag ? 'does' : 'does not'}`);
}

function classOfType(type: string): string | null {
  const inner = /<(.+)>/.exec(type)?.[1] ?? type.replace(/\?$/, '');
  return resolve(inner, SDK.classes);
}

/** Compares a message body (MessageBody of our envelope) with every documentation example of its class. */
export function compareWithSdkExamples(json: string): { readonly examples: number; readonly problems: string[] } {
  const root = parseJsonText(json);
  if (root.kind !== 'object') return { examples: 0, problems: ['$: not an object'] };
  const body = root.members.find(([k]) => k === 'MessageBody')?.[1];
  const tag = body?.kind === 'object' ? body.members[0]?.[1] : undefined;
  if (!body || tag?.kind !== 'string') return { examples: 0, problems: ['$.MessageBody: no $type'] };
  const cls = typeOfTag(tag.value);
  const problems: string[] = [];
  const examples = SDK.classes[cls]?.examples ?? [];
  examples.forEach((example, i) => compareShape(example, body, `$.MessageBody(example ${i + 1})`, cls, problems, true));
  // The envelope itself, against the SDK's documented envelope.
  for (const example of SDK.classes['CFX.CFXEnvelope']?.examples ?? []) {
    if (example.kind !== 'object') continue;
    const envelopeOnly: Shape = { kind: 'object', members: example.members.filter(([k]) => k !== 'MessageBody') };
    compareShape(envelopeOnly, root, '$', 'CFX.CFXEnvelope', problems);
  }
  return { examples: examples.length, problems };
}
