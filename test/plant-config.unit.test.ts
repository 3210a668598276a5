/** The plant broker's settings: what a line engineer writes, and one clear line for each mistake. */
import { describe, expect, it } from 'vitest';
import { cfxConfigFromEnv, describeBroker } from '../src/plant/config.ts';
import { connectionOptions } from '../src/plant/broker.ts';

const noFile = (path: string): string => {
  throw new Error(`no ${path}`);
};
const base = { FLASHTRAIL_CFX_BROKER_URL: 'amqp://flashtrail:s3cret@broker.plant1.example', FLASHTRAIL_CFX_HANDLE: 'Plant1.L1.flashtrail' };

describe('CFX settings', () => {
  it('no broker URL: no CFX', () => {
    expect(cfxConfigFromEnv({}, noFile)).toBeNull();
  });

  it('a complete configuration, with the defaults', () => {
    const c = cfxConfigFromEnv({ ...base, FLASHTRAIL_CFX_VHOST: 'plant1', FLASHTRAIL_CFX_VALIDATION_ADDRESS: '/amq/queue/flashtrail.validate' }, noFile);
    expect(c).toEqual({
      broker: { scheme: 'amqp', host: 'broker.plant1.example', port: 5672, username: 'flashtrail', password: 's3cret', vhost: 'plant1', caFile: null, tlsServerName: null },
      handle: 'Plant1.L1.flashtrail',
      publishAddress: '/exchange/amq.topic',
      validationAddress: '/amq/queue/flashtrail.validate',
      ledgerBaseUrl: null,
      maxInFlight: 64,
      start: 'beginning',
    });
    expect(connectionOptions(c!.broker, 'x')).toMatchObject({ host: 'broker.plant1.example', port: 5672, hostname: 'vhost:plant1', username: 'flashtrail', password: 's3cret', transport: 'tcp', reconnect: false });
  });

  it('amqps with a CA file, the password from a file, percent-encoded user names', () => {
    const c = cfxConfigFromEnv(
      { ...base, FLASHTRAIL_CFX_BROKER_URL: 'amqps://line%401@[::1]', FLASHTRAIL_CFX_PASSWORD_FILE: '/run/secrets/cfx', FLASHTRAIL_CFX_CA_FILE: '/etc/ssl/plant-ca.pem', FLASHTRAIL_CFX_TLS_SERVERNAME: 'broker.plant1.example' },
      (p) => (p === '/run/secrets/cfx' ? 'from-file\n' : noFile(p)),
    );
    expect(c?.broker).toMatchObject({ scheme: 'amqps', host: '::1', port: 5671, username: 'line@1', password: 'from-file', caFile: '/etc/ssl/plant-ca.pem', tlsServerName: 'broker.plant1.example' });
    expect(() => connectionOptions(c!.broker, 'x')).toThrow(/FLASHTRAIL_CFX_CA_FILE \/etc\/ssl\/plant-ca\.pem cannot be read/);
  });

  it('never shows the password', () => {
    const c = cfxConfigFromEnv({ ...base, FLASHTRAIL_CFX_VHOST: 'plant1' }, noFile);
    expect(describeBroker(c!.broker)).toBe('amqp://flashtrail@broker.plant1.example:5672 (vhost plant1)');
    expect(JSON.stringify(describeBroker(c!.broker))).not.toContain('s3cret');
  });

  const refused: [string, Record<string, string>, RegExp][] = [
    ['another scheme', { ...base, FLASHTRAIL_CFX_BROKER_URL: 'http://broker' }, /^FLASHTRAIL_CFX_BROKER_URL must be amqp:\/\/ or amqps:\/\/, not http:\/\/$/],
    ['not a URL', { ...base, FLASHTRAIL_CFX_BROKER_URL: 'broker:5672' }, /must be amqp/],
    ['garbage', { ...base, FLASHTRAIL_CFX_BROKER_URL: '::' }, /^FLASHTRAIL_CFX_BROKER_URL is not a URL/],
    ['a vhost in the path', { ...base, FLASHTRAIL_CFX_BROKER_URL: 'amqp://u:p@broker/plant1' }, /give the virtual host in FLASHTRAIL_CFX_VHOST/],
    ['no handle', { FLASHTRAIL_CFX_BROKER_URL: base.FLASHTRAIL_CFX_BROKER_URL }, /^FLASHTRAIL_CFX_HANDLE is required/],
    ['a bad handle', { ...base, FLASHTRAIL_CFX_HANDLE: 'Plant 1' }, /^FLASHTRAIL_CFX_HANDLE: dot-separated names/],
    ['a user without password', { ...base, FLASHTRAIL_CFX_BROKER_URL: 'amqp://flashtrail@broker' }, /the broker user flashtrail has no password/],
    ['two passwords', { ...base, FLASHTRAIL_CFX_PASSWORD_FILE: '/x' }, /either in FLASHTRAIL_CFX_BROKER_URL or in FLASHTRAIL_CFX_PASSWORD_FILE/],
    ['an unreadable password file', { ...base, FLASHTRAIL_CFX_BROKER_URL: 'amqp://u@broker', FLASHTRAIL_CFX_PASSWORD_FILE: '/nope' }, /FLASHTRAIL_CFX_PASSWORD_FILE \/nope cannot be read/],
    ['TLS settings without TLS', { ...base, FLASHTRAIL_CFX_CA_FILE: '/ca.pem' }, /are for amqps:\/\//],
    ['a window of zero', { ...base, FLASHTRAIL_CFX_MAX_IN_FLIGHT: '0' }, /^FLASHTRAIL_CFX_MAX_IN_FLIGHT: /],
    ['a start that is neither', { ...base, FLASHTRAIL_CFX_START: 'yesterday' }, /^FLASHTRAIL_CFX_START: /],
    ['an address with a space', { ...base, FLASHTRAIL_CFX_ADDRESS: '/exchange/cfx events' }, /^FLASHTRAIL_CFX_ADDRESS: an AMQP address without spaces$/],
    ['a ledger URL that is not http', { ...base, FLASHTRAIL_CFX_LEDGER_URL: 'ftp://ledger' }, /^FLASHTRAIL_CFX_LEDGER_URL: /],
    ['settings without a broker', { FLASHTRAIL_CFX_HANDLE: 'Plant1.L1.flashtrail' }, /^FLASHTRAIL_CFX_HANDLE set, but no FLASHTRAIL_CFX_BROKER_URL/],
  ];
  for (const [what, env, message] of refused) {
    it(`refuses ${what} in one line naming the variable`, () => {
      let error: Error | null = null;
      try {
        cfxConfigFromEnv(env, noFile);
      } catch (e) {
        error = e as Error;
      }
      expect(error?.name).toBe('ConfigError');
      expect(error?.message).toMatch(message);
      expect(error?.message).not.toContain('\n');
      expect(error?.message).not.toContain('s3cret');
    });
  }
});
