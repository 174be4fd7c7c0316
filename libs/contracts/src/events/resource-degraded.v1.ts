import { z } from 'zod';
import { NameSchema, TextSchema } from '../envelope.js';

/** A member of a protected resource that must not serve: e.g. a former primary that came back. */
export const ResourceDegradedV1Schema = z.object({
  member: NameSchema,
  reason: TextSchema.min(1),
  formerEpoch: z.int().nonnegative().nullable(),
  currentEpoch: z.int().nonnegative(),
  needs: z.enum(['rewind', 'rebuild', 'attention']),
  madeReadOnly: z.boolean().describe('true when the member was reachable and set read-only'),
});

export type ResourceDegradedV1 = z.infer<typeof ResourceDegradedV1Schema>;
