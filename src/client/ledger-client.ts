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

/** No answer at all: the ledger is down, the address is wrong, or the network is in the way. */
export class LedgerUnreachableError extends Error {
  override readonly name = 'LedgerUnreachableError';
  /** The network error code (ECONNREFUSED, ECONNRESET, …) when there is one. */
  readonly code: string | undefined;
  constructor(
    readonly url: string,
    cause: unknown,
  ) {
    const code = networkCode(cause);
    super(`cannot reach the ledger at ${url}: ${(code && NETWORK_REASONS[code]) ?? code ?? causeMessage(cause)}`, { cause });
    this.code = code;
  }
}

const NETWORK_REASONS: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  ETIMEDOUT: 'timed out',
  UND_ERR_CONNECT_TIMEOUT: 'timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  UND_ERR_SOCKET: 'connection closed',
  CERT_HAS_EXPIRED: 'its TLS certificate has expired',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'its TLS certificate is self-signed',
};

type FetchFailure = { cause?: { code?: unknown; message?: unknown; errors?: { code?: unknown }[] } };

/** fetch() rejects with "fetch failed"; the reason is in its cause (an AggregateError when several addresses failed). */
function networkCode(error: unknown): string | undefined {
  const cause = (error as FetchFailure).cause;
  const code = cause?.code ?? cause?.errors?.[0]?.code;
  return typeof code === 'string' ? code : undefined;
}

function causeMessage(error: unknown): string {
  const message = (error as FetchFailure).cause?.message;
  if (typeof message === 'string' && message !== '') return message;
  return error instanceof Error ? error.message : String(error);
}

/** fetch(), with a failure to get any response reported as LedgerUnreachableError. */
export async function fetchLedger(url: URL, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (error) {
    throw new LedgerUnreachableError(url.origin, error);
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
        return await fetchLedger(new URL(path, this.baseUrl), {
          method,
          headers: {
            authorization: `Bearer ${this.token}`,
            ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          },
          ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        });
      } catch (error) {
        const stale = error instanceof LedgerUnreachableError && (error.code === 'ECONNRESET' || error.code === 'UND_ERR_SOCKET');
        if (attempt >= 3 || !stale) throw error;
      }
    }
  }
}
