/**
 * Bearer tokens. Only their SHA-256 is stored; the token itself is shown once, when it is created.
 * The token file is re-read when it changes, so adding a station does not need a restart.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdirDurable, writeFileDurable } from '../files/durable.ts';
import { dirname } from 'node:path';
import { randomBytes } from 'node:crypto';
import { sha256Hex } from '../crypto/sha256.ts';
import { nativeCrypto } from '../native/crypto.ts';
import { utf8 } from '../crypto/encoding.ts';
import type { Principal } from '../write/pipeline.ts';
import { TokenEntry, TokenFile } from '../files/token-file.ts';

export { TokenEntry, TokenFile } from '../files/token-file.ts';

/** A token list that cannot be used, or a token that cannot be added to it. */
export class TokenFileError extends Error {
  override readonly name = 'TokenFileError';
}

/** OpenSSL's SHA-256: every request hashes its bearer token, and the portable one cost 1.5 % of the append path's main thread. */
export function hashToken(token: string): string {
  return sha256Hex(utf8(token), nativeCrypto);
}

export function newToken(): string {
  return `ft_${randomBytes(32).toString('base64url')}`;
}

export interface TokenSource {
  lookup(token: string): Principal | null;
}

export interface TokenFileOptions {
  /**
   * How long a lookup of a known token trusts the list it has before it looks at the file again (so a token
   * removed from the file is refused within it); 1 s by default. A token the list lacks is looked for in the file
   * at once.
   */
  readonly recheckAfterMs?: number;
  /**
   * Hears, once per distinct problem, that the file could not be reloaded (deleted, half-written, invalid)
   * and that the last valid list stays in force; and, with null, that the file is valid again.
   */
  readonly onReloadProblem?: (problem: string | null) => void;
}

export class TokenStore implements TokenSource {
  private byHash = new Map<string, Principal>();
  /** mtime, size and inode of the file last loaded: a rewrite in place or a rename over it both change it. */
  private loadedVersion = '';
  private checkedAt = 0;
  private problem: string | null = null;

  private constructor(
    private readonly file: string | null,
    private readonly recheckAfterMs = 1000,
    private readonly onReloadProblem: (problem: string | null) => void = () => undefined,
  ) {}

  /** Reads the file now (an invalid file is an error) and again whenever it changes. */
  static fromFile(file: string, options: TokenFileOptions = {}): TokenStore {
    const store = new TokenStore(file, options.recheckAfterMs, options.onReloadProblem);
    store.reloadIfChanged(true);
    return store;
  }

  static fromJson(json: string): TokenStore {
    const store = new TokenStore(null);
    store.load(json, 'FLASHTRAIL_TOKENS');
    return store;
  }

  lookup(token: string): Principal | null {
    this.reloadIfChanged(false);
    const hash = hashToken(token);
    const known = this.byHash.get(hash);
    if (known || this.file === null) return known ?? null;
    // A token the list lacks may have been added since the last look (a station's token, used the moment
    // `flashtrail tokens add` printed it): the file is looked at now, not after the interval. One stat per
    // unknown token, and a reload only when the file changed.
    this.checkedAt = 0;
    this.reloadIfChanged(false);
    return this.byHash.get(hash) ?? null;
  }

  private reloadIfChanged(initial: boolean): void {
    if (this.file === null) return;
    const now = Date.now();
    if (!initial && now - this.checkedAt < this.recheckAfterMs) return;
    this.checkedAt = now;
    let version: string;
    try {
      const stat = statSync(this.file);
      version = `${stat.mtimeMs}:${stat.size}:${stat.ino}`;
    } catch (error) {
      if (initial) throw error;
      // Deleted, or being replaced right now: keep the list we have and look again next time.
      this.report(`${this.file} cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); the ${this.byHash.size} tokens last read from it stay in force`);
      return;
    }
    if (!initial && version === this.loadedVersion) return;
    try {
      this.load(readFileSync(this.file, 'utf8'), this.file);
    } catch (error) {
      // A file caught half-written, or edited into something invalid, must not lock every caller out (nor
      // answer 500): the last valid list stays in force until the file is valid again.
      if (initial) throw error;
      this.report(`${(error as Error).message}; the ${this.byHash.size} tokens last read from it stay in force`);
      return;
    }
    this.loadedVersion = version;
    this.report(null);
  }

  private report(problem: string | null): void {
    if (problem === this.problem) return;
    this.problem = problem;
    this.onReloadProblem(problem);
  }

  private load(json: string, origin: string): void {
    let value: unknown;
    try {
      value = JSON.parse(json);
    } catch (error) {
      throw new TokenFileError(`${origin}: not a valid token list (${(error as Error).message})`);
    }
    const result = TokenFile.safeParse(value);
    if (!result.success) {
      const issue = result.error.issues[0];
      throw new TokenFileError(`${origin}: not a valid token list (${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'})`);
    }
    const parsed = result.data;
    this.byHash = new Map(
      parsed.tokens.map((t) => [t.sha256, { name: t.name, role: t.role, ...(t.stationId ? { stationId: t.stationId } : {}) }]),
    );
  }
}

function jsonOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Adds a new token to a token file and returns it; only its hash is stored. */
export function addToken(file: string, entry: Omit<TokenEntry, 'sha256'>): string {
  const token = newToken();
  addTokenHash(file, entry, token);
  return token;
}

/** Records the hash of `token` in the token file, durably (the file is replaced whole or not at all). */
export function addTokenHash(file: string, entry: Omit<TokenEntry, 'sha256'>, token: string): void {
  let list: { tokens: TokenEntry[] } = { tokens: [] };
  if (existsSync(file)) {
    const parsed = TokenFile.safeParse(jsonOrUndefined(readFileSync(file, 'utf8')));
    if (!parsed.success) throw new TokenFileError(`${file}: not a valid token list (${parsed.error.issues[0]?.message ?? 'not JSON'})`);
    list = parsed.data;
  }
  if (list.tokens.some((t) => t.name === entry.name)) throw new TokenFileError(`a token named ${entry.name} already exists in ${file}`);
  const added = TokenEntry.safeParse({ ...entry, sha256: hashToken(token) });
  if (!added.success) throw new TokenFileError(`cannot add token ${entry.name}: ${added.error.issues.map((i) => `${i.path.join('.') || 'entry'}: ${i.message}`).join('; ')}`);
  list.tokens.push(added.data);
  mkdirDurable(dirname(file), 0o700);
  writeFileDurable(file, JSON.stringify(list, null, 2) + '\n', { mode: 0o600 });
}
