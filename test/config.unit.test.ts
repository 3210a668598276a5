/**
 * The server's configuration is validated as a whole before anything starts: every unusable setting is
 * refused with one line naming the variable, what it must be, and what it was. None silently becomes NaN,
 * a random port or a 1 ms timer.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, configFromEnv } from '../src/server/config.ts';

const refusal = (env: Record<string, string>): string => {
  try {
    configFromEnv(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  return 'accepted';
};

describe('server configuration', () => {
  it('defaults when nothing is set', () => {
    const config = configFromEnv({});
    expect(config).toMatchObject({ port: 8080, host: '127.0.0.1', maxBodyBytes: 4 * 1024 * 1024, checkpointEveryEvents: 1000, checkpointIntervalMs: 60_000, logLevel: 'info', store: 'sqlite', startCheckLeaves: 10_000 });
  });

  it('the plant broker is part of the configuration: none by default, empty counts as unset, a bad one is refused naming the variable', () => {
    expect(configFromEnv({}).cfx).toBeNull();
    expect(configFromEnv({ FLASHTRAIL_CFX_BROKER_URL: '', FLASHTRAIL_CFX_HANDLE: '' }).cfx).toBeNull();
    const config = configFromEnv({ FLASHTRAIL_CFX_BROKER_URL: 'amqp://flashtrail:s3cret@broker.plant1.example', FLASHTRAIL_CFX_HANDLE: 'Plant1.L1.flashtrail', FLASHTRAIL_CFX_VHOST: 'plant1' });
    expect(config.cfx).toMatchObject({ handle: 'Plant1.L1.flashtrail', publishAddress: '/exchange/amq.topic', broker: { host: 'broker.plant1.example', port: 5672, vhost: 'plant1', username: 'flashtrail' } });
    expect(refusal({ FLASHTRAIL_CFX_BROKER_URL: 'amqp://broker.plant1.example' })).toMatch(/^FLASHTRAIL_CFX_HANDLE is required with a broker/);
    expect(refusal({ FLASHTRAIL_CFX_BROKER_URL: 'amqp://broker', FLASHTRAIL_CFX_HANDLE: 'Plant1', FLASHTRAIL_CFX_START: 'later' })).toMatch(/^FLASHTRAIL_CFX_START: /);
    expect(refusal({ FLASHTRAIL_CFX_BROKER_URL: 'ftp://u:s3cret@broker', FLASHTRAIL_CFX_HANDLE: 'Plant1' })).not.toContain('s3cret');
  });

  it('takes well-formed values', () => {
    const config = configFromEnv({ FLASHTRAIL_PORT: '0', FLASHTRAIL_MAX_BODY_BYTES: '65536', FLASHTRAIL_CHECKPOINT_INTERVAL_S: '0.5', FLASHTRAIL_LOG_LEVEL: 'warn', FLASHTRAIL_STORE: 'kurrentdb', FLASHTRAIL_EVENTSTORE_CONNECTION_STRING: 'esdb://db:2113' });
    expect(config).toMatchObject({ port: 0, maxBodyBytes: 65536, checkpointIntervalMs: 500, logLevel: 'warn', store: 'eventstoredb' });
  });

  it('a body limit with a unit is refused, never read as NaN (which disabled the limit)', () => {
    expect(refusal({ FLASHTRAIL_MAX_BODY_BYTES: '4MB' })).toBe('FLASHTRAIL_MAX_BODY_BYTES must be a whole number of bytes from 1024 to 1073741824, not 4MB');
    expect(refusal({ FLASHTRAIL_MAX_BODY_BYTES: '0' })).toMatch(/^FLASHTRAIL_MAX_BODY_BYTES must be .*, not 0$/);
    expect(refusal({ FLASHTRAIL_MAX_BODY_BYTES: '-1' })).toMatch(/^FLASHTRAIL_MAX_BODY_BYTES must be .*, not -1$/);
  });

  it('an empty port is refused, not a random one', () => {
    expect(refusal({ FLASHTRAIL_PORT: '' })).toBe('FLASHTRAIL_PORT must be a whole number from 0 to 65535, not "" (unset it for the default)');
    expect(refusal({ FLASHTRAIL_PORT: '80a' })).toBe('FLASHTRAIL_PORT must be a whole number from 0 to 65535, not 80a');
    expect(refusal({ FLASHTRAIL_PORT: '65536' })).toMatch(/not 65536$/);
  });

  it('a non-numeric checkpoint interval is refused, not a 1 ms timer', () => {
    expect(refusal({ FLASHTRAIL_CHECKPOINT_INTERVAL_S: 'abc' })).toBe('FLASHTRAIL_CHECKPOINT_INTERVAL_S must be a number of seconds from 0.1 to 86400, not abc');
    expect(refusal({ FLASHTRAIL_CHECKPOINT_INTERVAL_S: '0' })).toMatch(/not 0$/);
    expect(refusal({ FLASHTRAIL_CHECKPOINT_EVERY_EVENTS: '1e3' })).toMatch(/^FLASHTRAIL_CHECKPOINT_EVERY_EVENTS must be a whole number from 1 to .*, not 1e3$/);
  });

  it('an unknown log level or store is named', () => {
    expect(refusal({ FLASHTRAIL_LOG_LEVEL: 'loud' })).toBe('FLASHTRAIL_LOG_LEVEL must be fatal, error, warn, info, debug, trace or silent, not loud');
    expect(refusal({ FLASHTRAIL_STORE: 'mysql' })).toBe('FLASHTRAIL_STORE must be sqlite, postgres or eventstoredb, not mysql');
    expect(configFromEnv({ FLASHTRAIL_STORE: 'postgresql', FLASHTRAIL_POSTGRES_URL: 'postgres://db/ledger' }).store).toBe('postgres');
    expect(refusal({ FLASHTRAIL_STORE: '' })).toBe('FLASHTRAIL_STORE must be sqlite, postgres or eventstoredb, not ""');
  });

  it('an inline token list that is not JSON, or not a token list, is named with what is wrong', () => {
    expect(refusal({ FLASHTRAIL_TOKENS: 'garbage' })).toMatch(/^FLASHTRAIL_TOKENS must be a JSON token list \{"tokens": \[\.\.\.\]\}: Unexpected token/);
    expect(refusal({ FLASHTRAIL_TOKENS: '{"tokens":[{"name":1}]}' })).toMatch(/^FLASHTRAIL_TOKENS is not a valid token list: tokens\.0\.name: /);
    expect(refusal({ FLASHTRAIL_TOKENS: '{"tokens":[]}' })).toBe('accepted');
  });

  it('a log origin with a space or a plus is refused', () => {
    expect(refusal({ FLASHTRAIL_LOG_ORIGIN: 'plant 1' })).toBe("FLASHTRAIL_LOG_ORIGIN must be a log origin without spaces or '+', such as plant1.example.com/ledger");
  });

  it('every message is one line', () => {
    const envs: Record<string, string>[] = [{ FLASHTRAIL_TOKENS: '{"tokens": [' }, { FLASHTRAIL_TOKENS: '{"tokens":[{"name":"a","role":"x","sha256":"00"}]}' }, { FLASHTRAIL_HOST: 'a b' }];
    for (const env of envs) {
      expect(refusal(env)).not.toMatch(/\n/);
    }
  });
});

describe('the body limit cannot be switched off', () => {
  it('the API refuses to be built with a body limit that is NaN, zero or fractional', async () => {
    const { createApp } = await import('../src/api/app.ts');
    const { pino } = await import('pino');
    const deps = { logger: pino({ level: 'silent' }) } as unknown as Parameters<typeof createApp>[0];
    for (const maxBodyBytes of [Number.NaN, 0, -1, 1.5]) {
      expect(() => createApp({ ...deps, maxBodyBytes })).toThrow(`the body limit must be a positive whole number of bytes, not ${String(maxBodyBytes)}`);
    }
  });
});
