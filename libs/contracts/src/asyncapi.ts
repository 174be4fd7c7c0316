import { z } from 'zod';
import { EnvelopeSchema, EVENT_TYPE_PATTERN, RESOURCE_PATTERN } from './envelope.js';
import { continuityEvents } from './events.js';
import { EXTERNAL_EVENT_TYPE, serviceOwning } from './provenance.js';
import { EventRegistry } from './registry.js';
import { DEFAULT_TOPOLOGY, type Topology } from './subjects.js';

/** JSON Schema draft-07: the schema dialect AsyncAPI 3 reads by default (its own schema format is a superset). */
const schemaOf = (schema: z.ZodType) => {
  const { $schema: _dialect, ...json } = z.toJSONSchema(schema, { target: 'draft-7' }) as Record<string, unknown>;
  return json;
};

/** Headers every event carries on NATS: the JetStream dedupe id and, when traced, W3C trace context. */
const HEADERS = {
  type: 'object',
  properties: {
    'Nats-Msg-Id': { type: 'string', format: 'uuid', description: 'the event id: JetStream drops a second publish of the same event within its duplicate window' },
    traceparent: { type: 'string', pattern: '^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$', description: 'W3C trace context: the publisher’s span, continued by every consumer' },
    tracestate: { type: 'string', description: 'W3C trace state (optional)' },
  },
};

const publisherOf = (type: string) => {
  const service = serviceOwning(type);
  const owner = service ? `the ${service} service` : 'any service, or an operator replaying a dead letter (`continuity-dlq`)';
  return type === EXTERNAL_EVENT_TYPE ? `${owner}, or an external publisher for the resources it is allowed (CONTINUITY_PUBLISHERS)` : owner;
};

/**
 * The event contracts as an AsyncAPI 3.0 document, for publishers and consumers in other
 * languages: one channel per event type (NATS subject `<namespace>.events.<Type>.<resource>`),
 * one message per schema version (the whole event: the envelope with `type`, `version` and `data`
 * pinned, the same documents as `schemas/*.json`), and a `send` and a `receive` operation per
 * channel. Written by `npm run schemas` to `libs/contracts/asyncapi.yaml`.
 */
export const generateAsyncApi = (registry: EventRegistry = continuityEvents, topology: Topology = DEFAULT_TOPOLOGY) => {
  const channels: Record<string, unknown> = {};
  const operations: Record<string, unknown> = {};
  const messages: Record<string, unknown> = {};
  for (const type of registry.knownTypes()) {
    const channelMessages: Record<string, { $ref: string }> = {};
    for (let version = 1; version <= registry.latestVersion(type); version++) {
      const name = `${type}.v${version}`;
      const whole = EnvelopeSchema.extend({ type: z.literal(type), version: z.literal(version), data: registry.schemaFor(type, version) });
      messages[name] = {
        name,
        title: `${type} v${version}`,
        contentType: 'application/json',
        headers: HEADERS,
        payload: schemaOf(whole),
        correlationId: { $ref: '#/components/correlationIds/correlationId' },
      };
      channelMessages[name] = { $ref: `#/components/messages/${name}` };
    }
    const latest = `${type}.v${registry.latestVersion(type)}`;
    channels[type] = {
      address: `${topology.namespace}.events.${type}.{resource}`,
      title: type,
      description: `${type} events, one subject per resource, in the JetStream stream ${topology.eventStream}. Published by ${publisherOf(type)}. Publish the latest version (${latest}); consumers also accept the older ones (upcast on read).`,
      parameters: { resource: { $ref: '#/components/parameters/resource' } },
      messages: channelMessages,
    };
    operations[`publish${type}`] = {
      action: 'send',
      title: `Publish ${type}`,
      summary: `Publish with JetStream (\`js.publish\`), the event id as \`Nats-Msg-Id\`; the subject's resource must equal the event's \`resource\`.`,
      channel: { $ref: `#/channels/${type}` },
      messages: Object.keys(channelMessages).map((m) => ({ $ref: `#/channels/${type}/messages/${m}` })),
    };
    operations[`consume${type}`] = {
      action: 'receive',
      title: `Consume ${type}`,
      summary: 'A durable JetStream consumer: at-least-once, acked after handling, invalid events dead-lettered.',
      channel: { $ref: `#/channels/${type}` },
      messages: Object.keys(channelMessages).map((m) => ({ $ref: `#/channels/${type}/messages/${m}` })),
    };
  }
  return {
    asyncapi: '3.0.0',
    info: {
      title: 'Continuity events',
      version: '1.0.0',
      description:
        'The facts the Continuity services publish on NATS JetStream: backups, verifications, failovers, the audit ledger. Every event is an envelope (id, type, version, source, resource, occurredAt, correlationId, causationId) around its typed `data`. Generated from libs/contracts; do not edit by hand.',
      license: { name: 'Apache-2.0' },
    },
    defaultContentType: 'application/json',
    servers: {
      local: { host: '127.0.0.1:4222', protocol: 'nats', description: 'NATS with JetStream; in production, the servers of NATS_URL, with the nkey of your identity (deploy/nats/identities.yaml)' },
    },
    channels,
    operations,
    components: {
      parameters: {
        resource: { description: `the resource the event is about (pattern ${RESOURCE_PATTERN.source}); equals the event's \`resource\`` },
      },
      correlationIds: {
        correlationId: { description: 'one chain of facts (a backup, its verification, its ledger entries) shares it', location: '$message.payload#/correlationId' },
      },
      schemas: {
        envelope: { ...schemaOf(EnvelopeSchema), description: `The envelope of every event; \`type\` matches ${EVENT_TYPE_PATTERN.source}.` },
      },
      messages,
    },
  };
};
