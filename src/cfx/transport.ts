/**
 * How a CFX envelope travels as an AMQP 1.0 message, as the SDK's AmqpUtilities.MessageFromEnvelope sends it:
 * the envelope's JSON (UTF-8) in one Data section, gzip-compressed (the SDK's default codec, announced as
 * content-encoding), durable, with the properties and application properties below. Pure: the compression
 * itself is the caller's (src/plant).
 */
import { toCfxJson } from './json.ts';
import { cfxTopic, CfxEnvelopeSchema, type CfxEnvelope } from './schema.ts';
import type { CfxEvidence } from './mapping.ts';

export const CFX_CONTENT_TYPE = 'application/json; charset="utf-8"';
export const CFX_CONTENT_ENCODING = 'gzip';

/** The envelope's JSON, exactly as the SDK serialises it (validated against the schema first). */
export function envelopeJson(envelope: CfxEnvelope): string {
  return toCfxJson(CfxEnvelopeSchema, envelope as never);
}

/** AMQP properties of a CFX message (rhea's field names). */
export interface CfxAmqpProperties {
  readonly message_id: string;
  readonly subject: string;
  readonly content_type: typeof CFX_CONTENT_TYPE;
  readonly content_encoding: typeof CFX_CONTENT_ENCODING;
  readonly reply_to: string;
  readonly to?: string;
  readonly correlation_id?: string;
  readonly creation_time: Date;
  readonly durable: true;
  readonly application_properties: Readonly<Record<string, string | null>>;
}

/** Where the evidence travels for consumers that read AMQP application properties (every message). */
export const EVIDENCE_PROPERTIES = {
  logPosition: 'flashtrail-log-position',
  eventId: 'flashtrail-event-id',
  envelopeSha256: 'flashtrail-envelope-sha256',
  provenanceUrl: 'flashtrail-provenance-url',
} as const satisfies Record<keyof CfxEvidence, string>;

/**
 * message-id = UniqueID, subject `{Source}.{MessageName}`, reply-to = Source, to = Target, correlation-id =
 * RequestID, creation-time = TimeStamp; application properties cfx-topic, cfx-message, cfx-handle, cfx-target
 * (the SDK's), and the ledger evidence when the message comes from a ledger event.
 */
export function amqpPropertiesOf(envelope: CfxEnvelope, evidence?: CfxEvidence): CfxAmqpProperties {
  const evidenceProperties: Record<string, string> = {};
  if (evidence) for (const [field, property] of Object.entries(EVIDENCE_PROPERTIES)) evidenceProperties[property] = evidence[field as keyof CfxEvidence];
  return {
    message_id: envelope.UniqueID,
    subject: `${envelope.Source}.${envelope.MessageName}`,
    content_type: CFX_CONTENT_TYPE,
    content_encoding: CFX_CONTENT_ENCODING,
    reply_to: envelope.Source,
    ...(envelope.Target !== null ? { to: envelope.Target } : {}),
    ...(envelope.RequestID !== null ? { correlation_id: envelope.RequestID } : {}),
    creation_time: new Date(Date.parse(envelope.TimeStamp)),
    durable: true,
    application_properties: {
      'cfx-topic': cfxTopic(envelope.MessageName),
      'cfx-message': envelope.MessageName,
      'cfx-handle': envelope.Source,
      'cfx-target': envelope.Target,
      ...evidenceProperties,
    },
  };
}
