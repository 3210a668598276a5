/**
 * How the command line fails. A usage error (exit 2) and an expected failure (exit 1: a missing file, a bad key,
 * an unreachable ledger, a refusal) are one line on stderr; only an unexpected error, a bug, prints a stack.
 */

/** The command was called wrongly: exit 2, with a pointer to its --help. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** An expected failure the command detected itself: its message is the whole story. */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/**
 * Errors of lower layers that report bad input, a refusal or an unreachable peer, not a bug. Matched by name, so
 * that this module (loaded by every command, --help included) imports none of the modules that define them.
 */
const EXPECTED_ERROR_PREFIX: Readonly<Record<string, string>> = {
  CliError: '',
  ConfigError: '',
  KeyFileError: '',
  NoteError: '',
  WitnessDirectoryError: '',
  PolicyError: '',
  CosignatureError: '',
  CheckpointFormatError: '',
  StationConfigError: '',
  StationError: '',
  SerialPortError: '',
  VerificationError: '',
  LedgerUnreachableError: '',
  TokenFileError: '',
  PostgresUnavailableError: '',
  PostgresStoreFormatError: '',
  LedgerIdentityMismatchError: '',
  DataDirectoryError: '',
  DataDirectoryLockedError: '',
  LogIntegrityError: 'refusing to start: ',
  CheckpointRefusedError: 'refusing to start: ',
  MerkleLogFormatError: '',
  BackupError: '',
  BackupVerificationError: '',
  SimulationError: '',
  LedgerClientError: 'the ledger refused: ',
  LedgerError: '',
};

/** What the operating system's error codes mean, in the words `ls` and `cat` use. */
const SYSTEM_ERROR_REASONS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'is a directory',
  ENOTDIR: 'not a directory',
  EEXIST: 'already exists',
  ENOSPC: 'no space left on device',
  EROFS: 'read-only file system',
  ELOOP: 'too many levels of symbolic links',
  ENAMETOOLONG: 'file name too long',
  EMFILE: 'too many open files',
  EADDRINUSE: 'address already in use',
  EADDRNOTAVAIL: 'address not available on this machine',
};

interface SystemError extends Error {
  readonly code: string;
  readonly syscall?: string;
  readonly path?: string;
  readonly address?: string;
  readonly port?: number;
}

function isSystemError(error: Error): error is SystemError {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && code in SYSTEM_ERROR_REASONS;
}

/** gRPC status UNAVAILABLE, as the KurrentDB client reports an event store it cannot connect to. */
const GRPC_UNAVAILABLE = 14;

/** The one line that explains an expected failure, or null for an unexpected error (a bug). */
export function describeExpectedFailure(error: unknown): string | null {
  if (!(error instanceof Error)) return null;
  const prefix = EXPECTED_ERROR_PREFIX[error.name];
  if (prefix !== undefined) return oneLine(prefix + error.message);
  // The KurrentDB client's UnavailableError (type 'unavailable'), or the gRPC error beneath it.
  const { code, details, type } = error as { code?: unknown; details?: unknown; type?: unknown };
  if (type === 'unavailable' || (code === GRPC_UNAVAILABLE && typeof details === 'string')) {
    const reason = typeof details === 'string' ? details.replace(/\s*Resolution note:.*$/s, '') : 'it does not answer';
    return oneLine(`cannot reach the event store (KurrentDB / EventStoreDB): ${reason}`);
  }
  if (isSystemError(error)) {
    const reason = SYSTEM_ERROR_REASONS[error.code] as string;
    if (error.path !== undefined) return `${error.path}: ${reason}`;
    if (error.syscall === 'listen' && error.address !== undefined) return `cannot listen on ${error.address}:${String(error.port)}: ${reason}`;
    return oneLine(error.message);
  }
  return null;
}

/** A message that spans lines (a list of problems) becomes one line of them separated by semicolons. */
function oneLine(message: string): string {
  return message
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .join('; ')
    .replace(/:;/g, ':');
}
