import { decide, KnownVerification, VerificationCommand, VerificationDecision, VerificationState } from './verification.decider.js';

const me = 'instance-me';
const other = 'instance-other';
const verification = (over: Partial<KnownVerification> = {}): KnownVerification => ({
  verificationId: 'v-1',
  trigger: 'new',
  status: 'running',
  owner: other,
  ownerAlive: true,
  ...over,
});

/** given(state).when(command).then(decision) */
const given = (state: Partial<VerificationState> = {}) => ({
  when: (command: VerificationCommand) => ({
    then: (expected: VerificationDecision) => expect(decide(command, { current: null, running: [], backup: null, ...state })).toEqual(expected),
  }),
});

describe('verification decider', () => {
  describe('Claim (a BackupCreated, or a dead process manual run)', () => {
    it('claims a verification nobody has', () => given().when({ type: 'Claim' }).then({ kind: 'claim' }));

    it('never runs a finished one again', () => given({ current: verification({ status: 'done', ownerAlive: false }) }).when({ type: 'Claim' }).then({ kind: 'done', verificationId: 'v-1' }));

    it('waits for one whose owner still works on it', () => given({ current: verification() }).when({ type: 'Claim' }).then({ kind: 'busy', verificationId: 'v-1' }));

    it('takes over one whose owner is gone', () => given({ current: verification({ ownerAlive: false }) }).when({ type: 'Claim' }).then({ kind: 'takeOver', verificationId: 'v-1' }));

    it('takes over an abandoned one', () => given({ current: verification({ status: 'abandoned', ownerAlive: false }) }).when({ type: 'Claim' }).then({ kind: 'takeOver', verificationId: 'v-1' }));
  });

  describe('Start (manual or scrub)', () => {
    it('starts when nothing runs', () => given().when({ type: 'Start', trigger: 'manual', dueBefore: null }).then({ kind: 'start', abandon: [] }));

    it('does not start a second one while one runs with a live owner', () =>
      given({ running: [verification({ trigger: 'scrub' })] }).when({ type: 'Start', trigger: 'manual', dueBefore: null }).then({ kind: 'running', verificationId: 'v-1', abandon: [] }));

    it("abandons dead owners' manual and scrub runs on the way, not a 'new' one (its message comes back)", () =>
      given({
        running: [
          verification({ verificationId: 'dead-scrub', trigger: 'scrub', ownerAlive: false }),
          verification({ verificationId: 'dead-new', trigger: 'new', ownerAlive: false }),
          verification({ verificationId: 'dead-manual', trigger: 'manual', ownerAlive: false }),
        ],
      })
        .when({ type: 'Start', trigger: 'scrub', dueBefore: null })
        .then({ kind: 'start', abandon: ['dead-scrub', 'dead-manual'] }));

    it('stops at the first live one, having abandoned the dead ones before it', () =>
      given({ running: [verification({ verificationId: 'dead', trigger: 'manual', ownerAlive: false }), verification({ verificationId: 'live' })] })
        .when({ type: 'Start', trigger: 'manual', dueBefore: null })
        .then({ kind: 'running', verificationId: 'live', abandon: ['dead'] }));

    it('scrubs a backup not verified since the plan was made, or never', () => {
      given({ backup: { lastVerifiedAt: '2026-01-01T00:00:00.000Z' } }).when({ type: 'Start', trigger: 'scrub', dueBefore: '2026-01-02T00:00:00.000Z' }).then({ kind: 'start', abandon: [] });
      given({ backup: { lastVerifiedAt: null } }).when({ type: 'Start', trigger: 'scrub', dueBefore: '2026-01-02T00:00:00.000Z' }).then({ kind: 'start', abandon: [] });
    });

    it('does not scrub a backup verified since (by another process), nor an unknown one', () => {
      given({ backup: { lastVerifiedAt: '2026-01-02T00:00:00.000Z' } }).when({ type: 'Start', trigger: 'scrub', dueBefore: '2026-01-02T00:00:00.000Z' }).then({ kind: 'notDue', abandon: [] });
      given({ backup: null }).when({ type: 'Start', trigger: 'scrub', dueBefore: '2026-01-02T00:00:00.000Z' }).then({ kind: 'notDue', abandon: [] });
    });
  });

  describe('Recover (at start-up, another process running verification)', () => {
    it("leaves a 'new' one alone, even with its owner gone: its message comes back", () =>
      given({ current: verification({ ownerAlive: false }) }).when({ type: 'Recover' }).then({ kind: 'leave' }));

    it('leaves one whose owner still works on it', () => given({ current: verification({ trigger: 'manual' }) }).when({ type: 'Recover' }).then({ kind: 'leave' }));

    it("abandons a dead owner's scrub", () => given({ current: verification({ trigger: 'scrub', ownerAlive: false }) }).when({ type: 'Recover' }).then({ kind: 'abandon', verificationId: 'v-1' }));

    it("takes over a dead owner's manual verification", () =>
      given({ current: verification({ trigger: 'manual', ownerAlive: false }) }).when({ type: 'Recover' }).then({ kind: 'takeOver', verificationId: 'v-1' }));
  });

  describe('Finish and Abandon', () => {
    it('records the verdict of the running verification the caller owns', () =>
      given({ current: verification({ owner: me }) }).when({ type: 'Finish', owner: me }).then({ kind: 'record', verificationId: 'v-1' }));

    it('drops the result of one another process took over, or that is no longer running', () => {
      given({ current: verification({ owner: other }) }).when({ type: 'Finish', owner: me }).then({ kind: 'drop' });
      given({ current: verification({ owner: me, status: 'abandoned' }) }).when({ type: 'Finish', owner: me }).then({ kind: 'drop' });
    });

    it('gives up only what the caller owns', () => {
      given({ current: verification({ owner: me }) }).when({ type: 'Abandon', owner: me }).then({ kind: 'abandon', verificationId: 'v-1' });
      given({ current: verification({ owner: other }) }).when({ type: 'Abandon', owner: me }).then({ kind: 'drop' });
    });
  });
});
