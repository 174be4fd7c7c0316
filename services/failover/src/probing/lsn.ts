import { DomainError } from '@continuity/contracts';

/*
 * WAL positions (LSNs) in PostgreSQL's text form, and the distance between two of them. Pure:
 * both the probes (waiting for a standby to replay a position) and the decider (ranking standbys
 * by how much WAL they have) use it.
 */

/** A WAL position that is not in PostgreSQL's `%X/%X` text form. */
export class InvalidLsnError extends DomainError {
  constructor(readonly value: unknown) {
    super(
      'FAILOVER.INVALID_LSN',
      `invalid LSN ${typeof value === 'string' ? JSON.stringify(value) : String(value)}: ` +
        'expected PostgreSQL text form such as 0/3000060 or 16/B374D848 (two hex numbers of up to 8 digits)',
    );
  }
}

const LSN_TEXT = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;

/** `16/B374D848` → 0x16B374D848n. Throws InvalidLsnError naming the bad value. */
export function parseLsn(text: string): bigint {
  const match = typeof text === 'string' ? LSN_TEXT.exec(text) : null;
  if (!match) throw new InvalidLsnError(text);
  return (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`);
}

/** Bytes of WAL between two positions, `a − b` (as `pg_wal_lsn_diff(a, b)`); negative when a is behind b. */
export function lsnDiffBytes(a: string, b: string): bigint {
  return parseLsn(a) - parseLsn(b);
}
