import { BadRequestException } from '@nestjs/common';
import { z } from 'zod';

/** Validates query or path parameters; a 400 names every bad parameter. */
export const parseParams = <S extends z.ZodType>(schema: S, input: unknown): z.infer<S> => {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  throw new BadRequestException({
    code: 'REQUEST.INVALID_PARAMETER',
    message: result.error.issues.map((i) => `${i.path.join('.') || '(query)'}: ${i.message}`).join('; '),
    errors: result.error.issues.map((i) => ({ parameter: i.path.join('.'), message: i.message })),
  });
};

export const isoTime = z.iso.datetime({ offset: true, message: 'must be an ISO-8601 time, e.g. 2026-11-26T10:00:00Z' }).transform((s) => new Date(s));
export const nonNegativeInt = z.coerce.number({ message: 'must be a number' }).int('must be a whole number').min(0, 'must be ≥ 0');
export const positiveInt = z.coerce.number({ message: 'must be a number' }).int('must be a whole number').min(1, 'must be ≥ 1');
