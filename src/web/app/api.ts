/// <reference lib="dom" />
/** The web interface's calls to the ledger's own JSON API, with the bearer token the user logged in with. */

export interface Session {
  readonly token: string;
  /** The ledger verifier key the user pinned: every timeline is verified against it, never against the server's. */
  readonly ledgerKey: string;
  /** The ledger's ML-DSA-44 verifier key, when the user pinned it: then timelines need both checkpoint signatures. */
  readonly pqKey?: string;
  readonly role: string;
  readonly name: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export async function api(session: Pick<Session, 'token'>, path: string, accept = 'application/json'): Promise<Response> {
  const response = await fetch(path, { headers: { authorization: `Bearer ${session.token}`, accept } });
  if (!response.ok) {
    let code = 'HTTP_' + response.status;
    let detail = response.statusText;
    try {
      const problem = (await response.json()) as { code?: string; detail?: string };
      code = problem.code ?? code;
      detail = problem.detail ?? detail;
    } catch {
      // not a problem document: the status says it
    }
    throw new ApiError(response.status, code, `${code}: ${detail}`);
  }
  return response;
}

export async function json<T>(session: Pick<Session, 'token'>, path: string): Promise<T> {
  return (await (await api(session, path)).json()) as T;
}

/**
 * Server-sent events over fetch (EventSource cannot send the Authorization header, and a token in the URL would
 * end up in logs): calls `onEvent` for each `data:` line until `signal` aborts.
 */
export async function subscribe(session: Pick<Session, 'token'>, path: string, onEvent: (data: string) => void, signal: AbortSignal): Promise<void> {
  const response = await fetch(path, { headers: { authorization: `Bearer ${session.token}`, accept: 'text/event-stream' }, signal });
  if (!response.ok || !response.body) return;
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      buffer += value;
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const message = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = message.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim()).join('\n');
        if (data) onEvent(data);
      }
    }
  } catch (error) {
    if ((error as Error).name !== 'AbortError') throw error;
  }
}

/** Saves a Blob under a name, as the browser's download. */
export function download(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
