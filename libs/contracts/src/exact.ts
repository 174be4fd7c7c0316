import { z } from 'zod';

/** Leaves whose parsed output is their input (JSON values, no rewriting). */
const LEAVES = new Set(['string', 'number', 'boolean', 'null', 'literal', 'enum', 'unknown', 'any']);
/** Wrappers whose output is their inner type's output (or the input's `undefined`/`null`). */
const WRAPPERS = new Set(['optional', 'nullable']);

type Def = Record<string, any> & { type: string; checks?: { _zod: { def: { check: string } } }[] };
const defOf = (schema: z.ZodType): Def => (schema as unknown as { _zod: { def: Def } })._zod.def;
const cloneWith = (schema: z.ZodType, def: Def): z.ZodType => (schema as unknown as { clone(def: Def): z.ZodType }).clone(def);

/**
 * `schema` with every object strict: unknown keys rejected rather than stripped. Input this twin
 * accepts is input `schema` parses to an equal value, so a parser may hand that input back instead
 * of building a copy (`parseExact`).
 *
 * `null` when that does not hold or cannot be told: a node that may rewrite its input (defaults,
 * transforms, pipes, catch, coercion, overwrite checks such as `trim()`), or a union (strict and
 * strip may pick different options). Conservative on purpose: an allowlist, so a kind of schema
 * added later falls back to the full parse until it is listed here.
 */
export const strictTwin = (schema: z.ZodType): z.ZodType | null => {
  const def = defOf(schema);
  if (def.checks?.some((check) => check._zod.def.check === 'overwrite')) return null;
  if (LEAVES.has(def.type)) return def.coerce ? null : schema;
  if (WRAPPERS.has(def.type)) {
    const inner = strictTwin(def.innerType);
    return inner && cloneWith(schema, { ...def, innerType: inner });
  }
  switch (def.type) {
    case 'array': {
      const element = strictTwin(def.element);
      return element && cloneWith(schema, { ...def, element });
    }
    case 'record': {
      const keyType = strictTwin(def.keyType);
      const valueType = strictTwin(def.valueType);
      return keyType && valueType && cloneWith(schema, { ...def, keyType, valueType });
    }
    case 'object': {
      const shape: Record<string, z.ZodType> = {};
      for (const [key, value] of Object.entries(def.shape as Record<string, z.ZodType>)) {
        const twin = strictTwin(value);
        if (!twin) return null;
        shape[key] = twin;
      }
      // A catchall already keeps unknown keys (its output has them): strict only where it strips.
      const catchall = def.catchall ? strictTwin(def.catchall) : z.never();
      return catchall && cloneWith(schema, { ...def, shape, catchall });
    }
    default:
      return null;
  }
};

/** One schema's parse that returns well-formed input as it is, else parses (copies, strips) as Zod does. */
export interface ExactParser {
  /** True when `input` is valid and has nothing to strip: the parse would return an equal value. */
  isExact(input: unknown): boolean;
}

/**
 * Compiles the strict twin of `schema` once (`compile` as the registry compiles schemas). Its check
 * builds nothing; only input it refuses (invalid, or with keys to strip) pays for the full parse.
 */
export const exactParser = (schema: z.ZodType, compile: (schema: z.ZodType) => z.ZodType): ExactParser => {
  const twin = strictTwin(schema);
  if (!twin) return { isExact: () => false };
  const fast = compile(twin);
  return { isExact: (input) => z.validate(fast, input) };
};
