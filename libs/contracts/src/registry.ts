import { z } from 'zod';
import { Envelope, EnvelopeSchema } from './envelope.js';
import { ContractViolationError, UnknownEventVersionError } from './errors.js';

/** Turns the data of version N-1 into the data of version N. Pure; never rewrites stored events. */
export type Upcaster = (previous: any, envelope: Envelope) => unknown;

interface VersionDefinition {
  schema: z.ZodType;
  /** How to turn the previous version's data into this one's. */
  upcastFromPrevious?: Upcaster;
  /** `schema` compiled on first use (see `compiled`); `schema` itself is what callers get. */
  fast?: z.ZodType;
}

/**
 * Zod's compiled fast path for a schema: generated code that answers valid input several times
 * faster than the interpreter, and hands anything it rejects (or cannot model) to the original
 * schema's runtime parser. Errors, and so every `ContractViolationError`, are therefore exactly
 * the runtime's. A schema Zod cannot compile is returned unchanged.
 */
const compiled = <T extends z.ZodType>(schema: T): T => z.compile(schema);

let fastEnvelope: z.ZodType | undefined;

export interface ParseOptions {
  /** Accept well-formed envelopes of types this build has no schema for (the audit log records them). */
  allowUnknownTypes?: boolean;
}

/**
 * Schemas per (type, version) and the upcasters between versions. Consumers always see the
 * newest version they know; old events stay as they were published.
 */
export class EventRegistry {
  private readonly types = new Map<string, Map<number, VersionDefinition>>();
  private readonly latest = new Map<string, number>();

  define(type: string, version: number, schema: z.ZodType, upcastFromPrevious?: Upcaster): this {
    const versions = this.types.get(type) ?? new Map<number, VersionDefinition>();
    if (versions.has(version)) throw new Error(`${type} v${version} is already defined`);
    if (version > 1 && !versions.has(version - 1)) throw new Error(`${type} v${version} needs v${version - 1} first`);
    if (version > 1 && !upcastFromPrevious) throw new Error(`${type} v${version} needs an upcaster from v${version - 1}`);
    versions.set(version, { schema, upcastFromPrevious });
    this.types.set(type, versions);
    this.latest.set(type, Math.max(version, this.latest.get(type) ?? 0));
    return this;
  }

  knownTypes(): string[] {
    return [...this.types.keys()].sort();
  }

  knows(type: string): boolean {
    return this.types.has(type);
  }

  latestVersion(type: string): number {
    const latest = this.latest.get(type);
    if (latest === undefined) throw new UnknownEventVersionError(type, 1, []);
    return latest;
  }

  schemaFor(type: string, version: number): z.ZodType {
    const versions = this.types.get(type);
    const definition = versions?.get(version);
    if (!definition) throw new UnknownEventVersionError(type, version, [...(versions?.keys() ?? [])]);
    return definition.schema;
  }

  /** Validates one version's data exactly as published; throws listing every failing field. */
  validateData(type: string, version: number, data: unknown): unknown {
    const definition = this.types.get(type)?.get(version);
    if (!definition) throw new UnknownEventVersionError(type, version, [...(this.types.get(type)?.keys() ?? [])]);
    const result = (definition.fast ??= compiled(definition.schema)).safeParse(data);
    if (!result.success) throw ContractViolationError.fromZod(`${type} v${version}`, result.error, 'data');
    return result.data;
  }

  /**
   * Validates an envelope and its data, then upcasts the data to the newest known version.
   * Throws `ContractViolationError` or `UnknownEventVersionError`: such an event will never
   * succeed, so consumers dead-letter it at once.
   */
  parse(raw: unknown, options: ParseOptions = {}): Envelope {
    const envelope = (fastEnvelope ??= compiled(EnvelopeSchema)).safeParse(raw);
    if (!envelope.success) {
      const what = typeof raw === 'object' && raw && 'type' in raw ? `event ${String(raw.type)}` : 'event';
      // Report data issues too when the type is known, so a publisher sees every problem at once.
      const issues = ContractViolationError.fromZod(what, envelope.error).issues;
      const data = this.dataIssues(raw);
      throw new ContractViolationError(what, [...issues, ...data]);
    }
    // A fresh object (Zod builds its output), so it is ours to complete below.
    const event = envelope.data as Envelope;
    const versions = this.types.get(event.type);
    if (!versions) {
      if (options.allowUnknownTypes) return event;
      throw new UnknownEventVersionError(event.type, event.version, []);
    }
    let data = this.validateData(event.type, event.version, event.data);
    const latest = this.latest.get(event.type)!;
    for (let v = event.version + 1; v <= latest; v++) {
      data = this.validateData(event.type, v, versions.get(v)!.upcastFromPrevious!(data, event));
    }
    event.version = latest;
    event.data = data;
    return event;
  }

  private dataIssues(raw: unknown) {
    if (typeof raw !== 'object' || raw === null) return [];
    const { type, version, data } = raw as Record<string, unknown>;
    const schema = typeof type === 'string' && typeof version === 'number' ? this.types.get(type)?.get(version) : undefined;
    if (!schema) return [];
    const result = (schema.fast ??= compiled(schema.schema)).safeParse(data);
    return result.success ? [] : ContractViolationError.fromZod('', result.error, 'data').issues;
  }
}
