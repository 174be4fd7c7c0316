import type { Role } from '@continuity/runtime';

export { Public, Roles } from '@continuity/runtime';

/** Who may read the ledger, its proofs and reports: auditors, and operators following what they triggered (admins too). */
export const READERS: [Role, ...Role[]] = ['auditor', 'operator'];
