/** A small HTTP client for the ledger API, used by the CLI, the demo, the benchmark and the station agent. */
import type { DsseEnvelope } from '../crypto/dsse.ts';

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  [member: string]: unknown;
}

export class LedgerClientError extends Error {
  override readonly name = 'LedgerClientError';
  constructor(
    readonly status: number,
    readonly problem: Problem,
  ) {
    super(`${status} ${problem.code}: ${problem.detail}`);
  }
}

/** The problem document of a failed response, or a stand-in when the body is not one. */
export function errorFromResponse(response: Response, text: string): LedgerClientError {
  let problem: Problem;
  try {
    problem = JSON.parse(text) as Problem;
  } catch {
    problem = { type: 'about:blank', title: response.statusText, status: response.status, detail: text.slice(0, 500), code: 'HTTP_ERROR' };
  }
  return new LedgerClientError(response.status, problem);
}

export interface AppendedEventJson {
  eventId: string;
  type: string;
  stream: string;
  revision: number;
  position: number;
  digest: string;
  duplicate: boolean;
}

export class LedgerClient {
  constructor(
    readonly baseUrl: string,
    private readonly token: string,
  ) {}

  async append(envelopes: DsseEnvelope[], path = '/v1/events'): Promise<AppendedEventJson[]> {
    const body = await this.request<{ events: AppendedEventJson[] }>('POST', path, { events: envelopes });
    return body.events;
  }

  appendAdmin(envelopes: DsseEnvelope[]): Promise<AppendedEventJson[]> {
    return this.append(envelopes, '/v1/admin/events');
  }

  get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  /** A text/plain resource: the checkpoint note, the verifier key. */
  async getText(path: string): Promise<string> {
    const response = await this.fetchRetryingStaleConnections('GET', path, undefined);
    const text = await response.text();
    if (!response.ok) throw errorFromResponse(response, text);
    return text;
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await this.fetchRetryingStaleConnections(method, path, body);
    const text = await response.text();
    if (!response.ok) throw errorFromResponse(response, text);
    return JSON.parse(text) as T;
  }

  /**
   * A kept-alive connection that the server closed while this process was busy fails on reuse with a reset.
   * Retrying is safe: reads are reads, and appends are idempotent by event id.
   */
  private async fetchRetryingStaleConnections(method: string, path: string, body: unknown): Promise<Response> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fetch(new URL(path, this.baseUrl), {
          method,
          headers: {
            authorization: `Bearer ${this.token}`,
            ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          },
          ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        });
      } catch (error) {
        const code = (error as { cause?: { code?: string } }).cause?.code;
        if (attempt >= 3 || (code !== 'ECONNRESET' && code !== 'UND_ERR_SOCKET')) throw error;
      }
    }
  }
}
