/**
 * What the notifier tells people, decided from an event alone: pure, no I/O, no clock.
 *
 * It reads events through a small generic field access (resource, severity, outcome and one key)
 * rather than through each type's schema, so types added later (`SloBreached`, `RiskIdentified`,
 * `DrillCompleted`) are routed by name as soon as they are published, and a newer version of a
 * type with the same field names needs no change here.
 */

/** The event types people hear about, and when. */
export const NOTIFIED_TYPES = ['SloBreached', 'RiskIdentified', 'FailoverTriggered', 'FailoverCompleted', 'FailoverAbandoned', 'DrillCompleted', 'BackupFailed'] as const;
export type NotifiedType = (typeof NOTIFIED_TYPES)[number];

export const SEVERITIES = ['info', 'low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** The envelope fields the notifier reads; `data` is not trusted to have any shape. */
export interface NotifiableEvent {
  id: string;
  type: string;
  resource: string;
  occurredAt: string;
  correlationId?: string;
  data: unknown;
}

export interface Notice {
  eventId: string;
  type: NotifiedType;
  resource: string;
  occurredAt: string;
  severity: Severity;
  /** One line for a human: what happened to which resource. */
  title: string;
  /** The event's own words (a reason, a mitigation), when it has some. */
  detail: string | null;
  /** With type and resource, what makes two events "the same news" (`failoverId`, a rule, a stage). */
  key: string;
}

const MAX_TEXT = 1_000;

/** A string field of `data` (numbers as text), or null: the only way this module reads event data. */
export const field = (data: unknown, ...names: string[]): string | null => {
  if (data === null || typeof data !== 'object') return null;
  for (const name of names) {
    const value = (data as Record<string, unknown>)[name];
    if (typeof value === 'string' && value.length > 0) return value.slice(0, MAX_TEXT);
    if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  }
  return null;
};

const severityOf = (data: unknown): Severity | null => {
  const value = field(data, 'severity')?.toLowerCase();
  return (SEVERITIES as readonly string[]).includes(value ?? '') ? (value as Severity) : null;
};

const atLeast = (severity: Severity, floor: Severity) => SEVERITIES.indexOf(severity) >= SEVERITIES.indexOf(floor);

const isNotified = (type: string): type is NotifiedType => (NOTIFIED_TYPES as readonly string[]).includes(type);

/**
 * The notice for `event`, or null when people need not hear about it: a type not notified, a risk
 * below `high`, a drill that did not fail.
 */
export const noticeOf = (event: NotifiableEvent): Notice | null => {
  if (!isNotified(event.type)) return null;
  const { data, resource } = event;
  const base = { eventId: event.id, type: event.type, resource, occurredAt: event.occurredAt };
  const reason = field(data, 'reason', 'error', 'message', 'summary', 'description');
  switch (event.type) {
    case 'SloBreached': {
      const objective = field(data, 'objective', 'slo', 'kind', 'target') ?? 'slo';
      const measured = field(data, 'measured', 'actual', 'value', 'achievedMs', 'exposureMs');
      const target = field(data, 'targetMs', 'target', 'threshold');
      const numbers = measured && target ? ` (${measured} against a target of ${target})` : '';
      return { ...base, severity: severityOf(data) ?? 'high', title: `${resource}: ${objective} target breached${numbers}`, detail: reason, key: objective };
    }
    case 'RiskIdentified': {
      const severity = severityOf(data);
      if (!severity || !atLeast(severity, 'high')) return null;
      const rule = field(data, 'rule', 'ruleId', 'riskId', 'kind') ?? 'risk';
      const mitigation = field(data, 'mitigation');
      const detail = [reason, mitigation ? `Mitigation: ${mitigation}` : null].filter(Boolean).join(' — ') || null;
      return { ...base, severity, title: `${resource}: ${severity} risk ${rule}`, detail, key: rule };
    }
    case 'DrillCompleted': {
      const outcome = field(data, 'outcome', 'status', 'verdict');
      if (outcome !== 'failed') return null;
      const step = field(data, 'failedStep', 'step');
      const key = field(data, 'drillId') ?? event.id;
      return { ...base, severity: 'high', title: `${resource}: recovery drill failed${step ? ` at ${step}` : ''}`, detail: reason, key };
    }
    case 'FailoverTriggered': {
      const planned = (data as { planned?: unknown } | null)?.planned === true;
      const from = field(data, 'fromInstance') ?? '?';
      const to = field(data, 'toInstance') ?? '?';
      return {
        ...base,
        severity: planned ? 'info' : 'critical',
        title: `${resource}: ${planned ? 'switchover' : 'failover'} from ${from} to ${to} started`,
        detail: reason,
        key: field(data, 'failoverId') ?? event.id,
      };
    }
    case 'FailoverCompleted': {
      const primary = field(data, 'newPrimary', 'toInstance') ?? '?';
      const rto = field(data, 'rtoMs');
      return { ...base, severity: 'medium', title: `${resource}: ${primary} is primary${rto ? ` (RTO ${rto} ms)` : ''}`, detail: reason, key: field(data, 'failoverId') ?? event.id };
    }
    case 'FailoverAbandoned':
      return { ...base, severity: 'critical', title: `${resource}: failover abandoned`, detail: reason, key: field(data, 'failoverId') ?? event.id };
    case 'BackupFailed': {
      const stage = field(data, 'stage') ?? 'unknown';
      return { ...base, severity: 'high', title: `${resource}: backup failed at ${stage}`, detail: reason, key: `stage:${stage}` };
    }
  }
};
