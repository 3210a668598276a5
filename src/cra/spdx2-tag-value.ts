/**
 * SPDX 2.x tag-value (the `.spdx` text Espressif's esp-idf-sbom and many firmware toolchains write) parsed
 * into the SPDX 2 JSON form, so that it can be checked against the official SPDX 2.2 / 2.3 JSON schema
 * (tag-value has none) and read by the same code as SPDX 2 JSON.
 *
 * The rules are those of the SPDX 2.2 / 2.3 specification's tag-value format: one `Tag: value` per line,
 * `#` comment lines, multi-line values between `<text>` and `</text>` (which may hold lines starting with
 * `#`), the document's creation information first, a package's fields after its `PackageName`, a file's
 * fields after its `FileName` (a file that follows a package belongs to it), `Relationship: A TYPE B`
 * anywhere. A tag we do not know, or one out of place, is an error naming the line: a silently dropped
 * field would make the TR-03183-2 report wrong.
 */
import { CraError } from './errors.ts';

type Json = Record<string, unknown>;

export const MAX_TAG_VALUE_LINES = 2_000_000;

interface Line {
  readonly no: number;
  readonly tag: string;
  readonly value: string;
}

function fail(no: number, why: string): never {
  throw new CraError('SBOM_TAG_VALUE_INVALID', `SPDX tag-value: ${why}`, `line ${no}`);
}

/** Splits into tag/value pairs, joining `<text>…</text>` values across lines. */
function lines(text: string): Line[] {
  const raw = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  if (raw.length > MAX_TAG_VALUE_LINES) throw new CraError('SBOM_TOO_LARGE', `SPDX tag-value: more than ${MAX_TAG_VALUE_LINES} lines`);
  const out: Line[] = [];
  for (let i = 0; i < raw.length; i++) {
    const line = raw[i] ?? '';
    const no = i + 1;
    if (line.trim() === '' || line.trimStart().startsWith('#')) continue;
    const m = /^([A-Za-z][A-Za-z0-9]*):\s?(.*)$/.exec(line);
    if (m === null) fail(no, `expected "Tag: value", found "${line.slice(0, 80)}"`);
    const tag = m[1] as string;
    let value = (m[2] ?? '').trim();
    if (value.startsWith('<text>')) {
      let body = value.slice('<text>'.length);
      let j = i;
      while (!body.includes('</text>')) {
        j++;
        if (j >= raw.length) fail(no, `<text> of ${tag} is never closed`);
        // A second <text> before the close means the first was never closed (text cannot nest).
        if ((raw[j] ?? '').includes('<text>')) fail(no, `<text> of ${tag} is never closed before line ${j + 1} opens another`);
        body += `\n${raw[j] ?? ''}`;
      }
      const end = body.indexOf('</text>');
      if (body.slice(end + '</text>'.length).trim() !== '') fail(j + 1, `text after </text> of ${tag}`);
      value = body.slice(0, end);
      i = j;
    }
    out.push({ no, tag, value });
  }
  return out;
}

const DOCUMENT_TAGS: Record<string, string> = {
  SPDXVersion: 'spdxVersion',
  DataLicense: 'dataLicense',
  DocumentName: 'name',
  DocumentNamespace: 'documentNamespace',
  DocumentComment: 'comment',
};
const CREATION_TAGS: Record<string, string> = { Created: 'created', CreatorComment: 'comment', LicenseListVersion: 'licenseListVersion' };
const PACKAGE_TAGS: Record<string, string> = {
  PackageVersion: 'versionInfo',
  PackageFileName: 'packageFileName',
  PackageSupplier: 'supplier',
  PackageOriginator: 'originator',
  PackageDownloadLocation: 'downloadLocation',
  PackageHomePage: 'homepage',
  PackageSourceInfo: 'sourceInfo',
  PackageLicenseConcluded: 'licenseConcluded',
  PackageLicenseDeclared: 'licenseDeclared',
  PackageLicenseComments: 'licenseComments',
  PackageCopyrightText: 'copyrightText',
  PackageSummary: 'summary',
  PackageDescription: 'description',
  PackageComment: 'comment',
  PrimaryPackagePurpose: 'primaryPackagePurpose',
  ReleaseDate: 'releaseDate',
  BuiltDate: 'builtDate',
  ValidUntilDate: 'validUntilDate',
};
const PACKAGE_LIST_TAGS: Record<string, string> = { PackageLicenseInfoFromFiles: 'licenseInfoFromFiles', PackageAttributionText: 'attributionTexts' };
const FILE_TAGS: Record<string, string> = {
  LicenseConcluded: 'licenseConcluded',
  LicenseComments: 'licenseComments',
  FileCopyrightText: 'copyrightText',
  FileComment: 'comment',
  FileNotice: 'noticeText',
};
const FILE_LIST_TAGS: Record<string, string> = {
  FileType: 'fileTypes',
  LicenseInfoInFile: 'licenseInfoInFiles',
  FileContributor: 'fileContributors',
  FileAttributionText: 'attributionTexts',
};
const EXTRACTED_TAGS: Record<string, string> = { ExtractedText: 'extractedText', LicenseName: 'name', LicenseComment: 'comment' };

function checksum(no: number, value: string): Json {
  const m = /^([A-Za-z0-9-]+):\s*([0-9A-Fa-f]+)$/.exec(value);
  if (m === null) fail(no, `checksum "${value}" is not "ALGORITHM: hex"`);
  return { algorithm: m[1], checksumValue: (m[2] as string).toLowerCase() };
}

function push(target: Json, key: string, value: unknown): void {
  const list = (target[key] as unknown[] | undefined) ?? [];
  list.push(value);
  target[key] = list;
}

/** Parses SPDX 2 tag-value into SPDX 2 JSON (not yet schema-checked). */
export function spdx2TagValueToJson(text: string): Json {
  const doc: Json = {};
  const creationInfo: Json = {};
  const packages: Json[] = [];
  const files: Json[] = [];
  const relationships: Json[] = [];
  const extracted: Json[] = [];
  const annotations: { target?: Json; annotation: Json }[] = [];
  let section: 'document' | 'package' | 'file' | 'licence' | 'annotation' = 'document';
  let pkg: Json | undefined;
  let file: Json | undefined;
  let licence: Json | undefined;
  let annotation: Json | undefined;
  let lastRef: Json | undefined;
  let lastRelationship: Json | undefined;

  const current = (): Json => (section === 'package' ? (pkg as Json) : section === 'file' ? (file as Json) : doc);

  for (const { no, tag, value } of lines(text)) {
    if (tag === 'Relationship') {
      const parts = value.split(/\s+/);
      if (parts.length !== 3) fail(no, `Relationship "${value}" is not "A TYPE B"`);
      lastRelationship = { spdxElementId: parts[0], relationshipType: parts[1], relatedSpdxElement: parts[2] };
      relationships.push(lastRelationship);
      continue;
    }
    if (tag === 'RelationshipComment') {
      if (!lastRelationship) fail(no, 'RelationshipComment before any Relationship');
      lastRelationship['comment'] = value;
      continue;
    }
    if (tag === 'PackageName') {
      pkg = { name: value };
      packages.push(pkg);
      section = 'package';
      file = undefined;
      continue;
    }
    if (tag === 'FileName') {
      file = { fileName: value };
      files.push(file);
      if (pkg && section !== 'document') push(pkg, 'hasFiles', file);
      section = 'file';
      continue;
    }
    if (tag === 'LicenseID') {
      licence = { licenseId: value };
      extracted.push(licence);
      section = 'licence';
      continue;
    }
    if (tag === 'Annotator') {
      annotation = { annotator: value };
      annotations.push({ annotation });
      section = 'annotation';
      continue;
    }
    if (tag === 'SPDXID') {
      current()['SPDXID'] = value;
      continue;
    }
    if (section === 'document') {
      if (DOCUMENT_TAGS[tag]) doc[DOCUMENT_TAGS[tag] as string] = value;
      else if (CREATION_TAGS[tag]) creationInfo[CREATION_TAGS[tag] as string] = value;
      else if (tag === 'Creator') push(creationInfo, 'creators', value);
      else if (tag === 'ExternalDocumentRef') {
        const m = /^(\S+)\s+(\S+)\s+([A-Za-z0-9-]+):\s*([0-9A-Fa-f]+)$/.exec(value);
        if (m === null) fail(no, `ExternalDocumentRef "${value}" is not "DocumentRef-id URI ALG: hex"`);
        push(doc, 'externalDocumentRefs', { externalDocumentId: m[1], spdxDocument: m[2], checksum: { algorithm: m[3], checksumValue: (m[4] as string).toLowerCase() } });
      } else fail(no, `unknown or misplaced tag "${tag}" in the document's creation information`);
      continue;
    }
    if (section === 'package') {
      const p = pkg as Json;
      if (PACKAGE_TAGS[tag]) p[PACKAGE_TAGS[tag] as string] = value;
      else if (PACKAGE_LIST_TAGS[tag]) push(p, PACKAGE_LIST_TAGS[tag] as string, value);
      else if (tag === 'FilesAnalyzed') {
        if (value !== 'true' && value !== 'false') fail(no, `FilesAnalyzed must be true or false, not "${value}"`);
        p['filesAnalyzed'] = value === 'true';
      } else if (tag === 'PackageVerificationCode') {
        const m = /^([0-9A-Fa-f]{40})(?:\s*\(excludes:\s*(.*)\))?$/.exec(value);
        if (m === null) fail(no, `PackageVerificationCode "${value}" is not a SHA-1 with optional (excludes: …)`);
        p['packageVerificationCode'] = {
          packageVerificationCodeValue: (m[1] as string).toLowerCase(),
          ...(m[2] ? { packageVerificationCodeExcludedFiles: (m[2] as string).split(',').map((s) => s.trim()) } : {}),
        };
      } else if (tag === 'PackageChecksum') push(p, 'checksums', checksum(no, value));
      else if (tag === 'ExternalRef') {
        const m = /^(\S+)\s+(\S+)\s+(\S+)$/.exec(value);
        if (m === null) fail(no, `ExternalRef "${value}" is not "CATEGORY TYPE LOCATOR"`);
        lastRef = { referenceCategory: m[1], referenceType: m[2], referenceLocator: m[3] };
        push(p, 'externalRefs', lastRef);
      } else if (tag === 'ExternalRefComment') {
        if (!lastRef) fail(no, 'ExternalRefComment before any ExternalRef');
        lastRef['comment'] = value;
      } else fail(no, `unknown or misplaced tag "${tag}" in package "${String(p['name'])}"`);
      continue;
    }
    if (section === 'file') {
      const f = file as Json;
      if (FILE_TAGS[tag]) f[FILE_TAGS[tag] as string] = value;
      else if (FILE_LIST_TAGS[tag]) push(f, FILE_LIST_TAGS[tag] as string, value);
      else if (tag === 'FileChecksum') push(f, 'checksums', checksum(no, value));
      else fail(no, `unknown or misplaced tag "${tag}" in file "${String(f['fileName'])}"`);
      continue;
    }
    if (section === 'licence') {
      const l = licence as Json;
      if (EXTRACTED_TAGS[tag]) l[EXTRACTED_TAGS[tag] as string] = value;
      else if (tag === 'LicenseCrossReference') push(l, 'seeAlsos', value);
      else fail(no, `unknown or misplaced tag "${tag}" in licence "${String(l['licenseId'])}"`);
      continue;
    }
    const a = annotation as Json;
    if (tag === 'AnnotationDate') a['annotationDate'] = value;
    else if (tag === 'AnnotationType') a['annotationType'] = value;
    else if (tag === 'AnnotationComment') a['comment'] = value;
    else if (tag === 'SPDXREF') (annotations[annotations.length - 1] as { target?: Json }).target = { ref: value };
    else fail(no, `unknown or misplaced tag "${tag}" in an annotation`);
  }

  if (Object.keys(creationInfo).length > 0) doc['creationInfo'] = creationInfo;
  // SPDX 2.2's JSON schema spells the category PACKAGE_MANAGER where tag-value (and 2.3) say PACKAGE-MANAGER.
  if (doc['spdxVersion'] === 'SPDX-2.2') {
    for (const p of packages) for (const r of (p['externalRefs'] as Json[] | undefined) ?? []) if (r['referenceCategory'] === 'PACKAGE-MANAGER') r['referenceCategory'] = 'PACKAGE_MANAGER';
  }
  // Files are listed once, at the top level; a package refers to its files by SPDXID.
  for (const p of packages) if (p['hasFiles']) p['hasFiles'] = (p['hasFiles'] as Json[]).map((f) => f['SPDXID']);
  if (packages.length > 0) doc['packages'] = packages;
  if (files.length > 0) doc['files'] = files;
  if (relationships.length > 0) doc['relationships'] = relationships;
  if (extracted.length > 0) doc['hasExtractedLicensingInfos'] = extracted;
  for (const { target, annotation: a } of annotations) {
    const ref = target?.['ref'];
    const owner = ref === undefined ? doc : [...packages, ...files, doc].find((e) => e['SPDXID'] === ref);
    if (owner === undefined) throw new CraError('SBOM_TAG_VALUE_INVALID', `SPDX tag-value: annotation for unknown element ${String(ref)}`);
    push(owner, 'annotations', a);
  }
  return doc;
}
