/**
 * The rules of who verifies a backup, and when (pure: no Nest, no I/O; what the rules depend on
 * comes in as state, the one time boundary, `dueBefore`, in the command). The store is the
 * adapter: it loads the state under a per-backup lock, asks `decide`, and writes the decision in
 * the same transaction.
 *
 * - Claim (a BackupCreated's `(backup, 'new')`, or a dead process's manual verification): a new one
 *   is claimed; a finished one is `done` and never runs again; a running one whose owner still
 *   works on it is `busy`; one whose owner is gone, or that was abandoned, is taken over.
 * - Start (manual or scrub, each under its own key): not while one runs with a live owner; dead
 *   owners' manual and scrub runs are abandoned on the way (a 'new' one is taken over when its
 *   message comes back); a scrub only if the backup was not verified since `dueBefore`.
 * - Recover (at start-up, another process's running verification): left alone while its owner
 *   lives, and always when it is a 'new' one (its message comes back); a scrub is abandoned, a
 *   manual one claimed and resumed.
 * - Finish / Abandon: only the owner of a running verification records its verdict or gives it up;
 *   anyone else's result is dropped.
 */
export type Trigger = 'new' | 'scrub' | 'manual';
export type VerificationStatus = 'running' | 'done' | 'abandoned';

/** Who gets a free verification slot first (0 first, see Slots): new backups and operators before scrubbing. */
export const PRIORITY: Record<Trigger, number> = { new: 0, manual: 0, scrub: 1 };

/** One verification as the rules see it. */
export interface KnownVerification {
  verificationId: string;
  trigger: Trigger;
  status: VerificationStatus;
  owner: string;
  /** Whether its owner still works on it: observed by the adapter for running ones (false otherwise). */
  ownerAlive: boolean;
}

export interface VerificationState {
  /** The verification the command is about (Claim: the one under its request key; Recover, Finish, Abandon: that one); null if none. */
  current: KnownVerification | null;
  /** Start: the backup's running verifications, oldest first. */
  running: KnownVerification[];
  /** Start with `dueBefore`: the backup as recorded (null: unknown), and when it was last verified. */
  backup: { lastVerifiedAt: string | null } | null;
}

export type VerificationCommand =
  | { type: 'Claim' }
  | { type: 'Start'; trigger: Exclude<Trigger, 'new'>; dueBefore: string | null }
  | { type: 'Recover' }
  | { type: 'Finish'; owner: string }
  | { type: 'Abandon'; owner: string };

export type VerificationDecision =
  /** Claim: a new verification, running, owned by the caller. */
  | { kind: 'claim' }
  /** Claim, Recover: the caller owns `current` now, as another attempt. */
  | { kind: 'takeOver'; verificationId: string }
  /** Claim: finished; its verdict stands. */
  | { kind: 'done'; verificationId: string }
  /** Claim: its owner still works on it: wait for it. */
  | { kind: 'busy'; verificationId: string }
  /** Start: `verificationId` runs with a live owner; no second one. */
  | { kind: 'running'; verificationId: string; abandon: string[] }
  /** Start: a new verification under its own key. */
  | { kind: 'start'; abandon: string[] }
  /** Start: verified since `dueBefore` (by another process, since the plan was made), or unknown. */
  | { kind: 'notDue'; abandon: string[] }
  /** Recover: not ours to touch. */
  | { kind: 'leave' }
  /** Recover, Abandon: given up, so it can be taken over. */
  | { kind: 'abandon'; verificationId: string }
  /** Finish: the owner's verdict is recorded. */
  | { kind: 'record'; verificationId: string }
  /** Finish, Abandon: not (or no longer) the caller's: nothing changes. */
  | { kind: 'drop' };

const ownedBy = (v: KnownVerification | null, owner: string): v is KnownVerification => v !== null && v.status === 'running' && v.owner === owner;

export const decide = (command: VerificationCommand, state: VerificationState): VerificationDecision => {
  const current = state.current;
  switch (command.type) {
    case 'Claim':
      if (!current) return { kind: 'claim' };
      if (current.status === 'done') return { kind: 'done', verificationId: current.verificationId };
      if (current.status === 'running' && current.ownerAlive) return { kind: 'busy', verificationId: current.verificationId };
      return { kind: 'takeOver', verificationId: current.verificationId };
    case 'Start': {
      const abandon: string[] = [];
      for (const v of state.running) {
        if (v.ownerAlive) return { kind: 'running', verificationId: v.verificationId, abandon };
        if (v.trigger !== 'new') abandon.push(v.verificationId);
      }
      if (command.dueBefore !== null) {
        const last = state.backup?.lastVerifiedAt;
        const due = state.backup !== null && (last === null || Date.parse(last!) < Date.parse(command.dueBefore));
        if (!due) return { kind: 'notDue', abandon };
      }
      return { kind: 'start', abandon };
    }
    case 'Recover':
      if (!current || current.status !== 'running' || current.trigger === 'new' || current.ownerAlive) return { kind: 'leave' };
      if (current.trigger === 'scrub') return { kind: 'abandon', verificationId: current.verificationId };
      return { kind: 'takeOver', verificationId: current.verificationId };
    case 'Finish':
      return ownedBy(current, command.owner) ? { kind: 'record', verificationId: current.verificationId } : { kind: 'drop' };
    case 'Abandon':
      return ownedBy(current, command.owner) ? { kind: 'abandon', verificationId: current.verificationId } : { kind: 'drop' };
    default: {
      const unreachable: never = command;
      throw new Error(`unknown command ${JSON.stringify(unreachable)}`);
    }
  }
};
