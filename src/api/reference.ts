/**
 * The API reference page, rendered on the server from the OpenAPI document: one self-contained HTML file
 * (inline CSS, no script, nothing fetched from anywhere), readable on an air-gapped plant network.
 */

interface Operation {
  summary?: string;
  description?: string;
  tags?: string[];
  'x-roles'?: string[];
  parameters?: { name: string; in: string; required?: boolean; description?: string; schema?: unknown }[];
  requestBody?: { content: Record<string, { schema?: unknown }> };
  responses: Record<string, { description?: string; content?: Record<string, { schema?: unknown }> }>;
}

const escape = (s: string): string => s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
const schemaBlock = (schema: unknown): string => `<details><summary>schema</summary><pre>${escape(JSON.stringify(schema, null, 2))}</pre></details>`;

function operationHtml(method: string, path: string, op: Operation): string {
  const roles = op['x-roles'] ?? [];
  const params = (op.parameters ?? [])
    .map((p) => `<tr><td><code>${escape(p.name)}</code></td><td>${escape(p.in)}</td><td>${p.required ? 'yes' : 'no'}</td><td>${escape(p.description ?? '')}</td></tr>`)
    .join('');
  const body = op.requestBody
    ? `<h4>Request body</h4>${Object.entries(op.requestBody.content)
        .map(([type, media]) => `<p><code>${escape(type)}</code></p>${schemaBlock(media.schema)}`)
        .join('')}`
    : '';
  const responses = Object.entries(op.responses)
    .map(([status, r]) => {
      const media = Object.entries(r.content ?? {});
      return `<tr><td><b>${escape(status)}</b></td><td>${escape(r.description ?? '')}${media.map(([type, m]) => `<p><code>${escape(type)}</code></p>${schemaBlock(m.schema)}`).join('')}</td></tr>`;
    })
    .join('');
  const id = `${method}-${path}`.replace(/[^A-Za-z0-9]+/g, '-');
  return `<section id="${escape(id)}"><h3><span class="m ${escape(method)}">${escape(method.toUpperCase())}</span> <code>${escape(path)}</code></h3>
<p>${escape(op.summary ?? '')}</p>${op.description ? `<p>${escape(op.description).replaceAll('\n\n', '</p><p>')}</p>` : ''}
<p class="roles">${roles.length ? `Bearer token with role: ${roles.map((r) => `<code>${escape(r)}</code>`).join(', ')}` : 'No token.'}</p>
${params ? `<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>required</th><th></th></tr>${params}</table>` : ''}${body}
<h4>Responses</h4><table>${responses}</table></section>`;
}

export function apiReference(document: Record<string, unknown>): string {
  const info = document['info'] as { title: string; version: string; description?: string };
  const paths = document['paths'] as Record<string, Record<string, Operation>>;
  const ops = Object.entries(paths).flatMap(([path, byMethod]) => Object.entries(byMethod).map(([method, op]) => ({ method, path, op })));
  const tags = [...new Set(ops.map((o) => o.op.tags?.[0] ?? 'other'))];
  const toc = ops.map((o) => `<li><a href="#${escape(`${o.method}-${o.path}`.replace(/[^A-Za-z0-9]+/g, '-'))}">${escape(o.method.toUpperCase())} ${escape(o.path)}</a> — ${escape(o.op.summary ?? '')}</li>`).join('');
  const sections = tags
    .map((tag) => `<h2>${escape(tag)}</h2>${ops.filter((o) => (o.op.tags?.[0] ?? 'other') === tag).map((o) => operationHtml(o.method, o.path, o.op)).join('')}`)
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escape(info.title)} ${escape(info.version)}</title>
<style>
body{font:15px/1.45 system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b}
code,pre{font:13px ui-monospace,monospace}pre{background:#f5f5f5;padding:.6rem;overflow:auto;max-height:30rem}
section{border-top:1px solid #ddd;padding:.4rem 0}table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.25rem .5rem;vertical-align:top;text-align:left}
.m{display:inline-block;min-width:3.5rem;color:#fff;border-radius:3px;padding:0 .3rem;text-align:center}.get{background:#2f6f9f}.post{background:#3c8c4a}.roles{color:#555}
</style></head><body>
<h1>${escape(info.title)} <small>${escape(info.version)}</small></h1>
<p>${escape(info.description ?? '')}</p>
<p>The machine-readable document: <a href="/openapi.json"><code>/openapi.json</code></a> (OpenAPI 3.1).</p>
<ul>${toc}</ul>
${sections}
</body></html>
`;
}
