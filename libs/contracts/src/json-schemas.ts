import { z } from 'zod';
import { EnvelopeSchema } from './envelope.js';
import { continuityEvents } from './events.js';
import { EventRegistry } from './registry.js';

/**
 * JSON Schema documents for publishers that do not use TypeScript: one for the envelope and
 * one per (type, version) for the whole event (envelope with `type`, `version` and `data` pinned).
 * File name → pretty-printed JSON; checked in under `libs/contracts/schemas/`.
 */
export const generateJsonSchemas = (registry: EventRegistry = continuityEvents): Record<string, string> => {
  const files: Record<string, string> = {};
  const write = (name: string, schema: z.ZodType, title: string) => {
    const json = { ...z.toJSONSchema(schema, { target: 'draft-2020-12' }), $id: `https://continuity.dev/schemas/${name}`, title };
    files[name] = `${JSON.stringify(json, null, 2)}\n`;
  };
  write('envelope.json', EnvelopeSchema, 'Continuity event envelope');
  for (const type of registry.knownTypes()) {
    for (let version = 1; version <= registry.latestVersion(type); version++) {
      const whole = EnvelopeSchema.extend({
        type: z.literal(type),
        version: z.literal(version),
        data: registry.schemaFor(type, version),
      });
      write(`${type}.v${version}.json`, whole, `${type} v${version}`);
    }
  }
  return files;
};
