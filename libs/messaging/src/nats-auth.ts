import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { nkeys } from '@nats-io/transport-node';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import {
  continuityEvents,
  DEFAULT_TOPOLOGY,
  EXTERNAL_EVENT_TYPE,
  isolatedTopology,
  REPLAY_EVENT_TYPE,
  RESOURCE_PATTERN,
  replayStreamOf,
  servicesPublishing,
  type ServiceIdentity,
  type Topology,
  validatePublisher,
} from '@continuity/contracts';

/**
 * NATS identities and permissions from one file (`deploy/nats/identities.yaml`): one nkey user per
 * service, per external publisher and for the admin, each allowed exactly the subjects it needs.
 * The same model as the provenance policy (`@continuity/contracts` provenance.ts): the server
 * refuses the publish, consumers refuse the event. Decision record 0024.
 */
const resources = z.array(z.string().regex(RESOURCE_PATTERN, 'must be resource names')).default([]);
const bucket = z.string().regex(/^[A-Za-z0-9_-]+$/, 'must be a bucket name (letters, digits, _ or -)');

export const IdentitiesSchema = z.strictObject({
  /** Subject namespace (`continuity`); the stream names follow from it. */
  namespace: z.string().regex(/^[a-z][a-z0-9_]{0,31}$/).default(DEFAULT_TOPOLOGY.namespace),
  services: z.strictObject({
    /** The resources it backs up: NATS wildcards match whole tokens, so each is one subject. */
    backup: z.strictObject({ resources, objectStores: z.array(bucket).default([]) }),
    verifier: z.strictObject({ objectStores: z.array(bucket).default([]) }).default({ objectStores: [] }),
    failover: z.strictObject({}).default({}),
    audit: z.strictObject({}).default({}),
  }),
  publishers: z.array(z.strictObject({ name: z.string(), resources })).default([]),
});
export type Identities = z.infer<typeof IdentitiesSchema>;

export interface Permissions {
  publish: { allow: string[]; deny: string[] };
  subscribe: { allow: string[]; deny: string[] };
}

export interface IdentityPermissions {
  name: string;
  kind: 'service' | 'publisher' | 'admin';
  /** Why it may do what it may: a comment in the generated configuration. */
  summary: string;
  permissions: Permissions;
}

export const parseIdentities = (text: string): Identities => {
  const result = IdentitiesSchema.safeParse(parseYaml(text) ?? {});
  if (!result.success) throw new Error(`identities file: ${result.error.issues.map((i) => `${i.path.join('.') || '(file)'}: ${i.message}`).join('; ')}`);
  const names = new Set<string>();
  for (const publisher of result.data.publishers) {
    validatePublisher(publisher);
    if (names.has(publisher.name)) throw new Error(`identities file: publisher ${publisher.name} is listed twice`);
    names.add(publisher.name);
  }
  return result.data;
};

export const topologyOfNamespace = (namespace: string): Topology => (namespace === DEFAULT_TOPOLOGY.namespace ? DEFAULT_TOPOLOGY : isolatedTopology(namespace));

export const failoverBuckets = (namespace: string) => [`${namespace}_failover`, `${namespace}_failover_leases`];

/** What no one but the admin may do: delete or purge a stream or its messages, change a stream's limits. */
const DESTRUCTIVE = ['$JS.API.STREAM.DELETE.>', '$JS.API.STREAM.PURGE.>', '$JS.API.STREAM.MSG.DELETE.>', '$JS.API.STREAM.UPDATE.>', '$JS.API.CONSUMER.DELETE.>'];

/**
 * Reading a stream's messages and following it: stream info, consumers (durable ones for the
 * transport; ordered, ephemeral ones for KV watches and object reads), pulls, acks, direct gets.
 * Consumer names are whole tokens, so a service's durables cannot be told apart by a prefix: any
 * identity with access to a stream may use any of its consumers (they only read).
 */
const readStream = (stream: string) => [
  `$JS.API.STREAM.INFO.${stream}`,
  `$JS.API.STREAM.MSG.GET.${stream}`,
  `$JS.API.DIRECT.GET.${stream}`,
  `$JS.API.DIRECT.GET.${stream}.>`,
  `$JS.API.CONSUMER.CREATE.${stream}`,
  `$JS.API.CONSUMER.CREATE.${stream}.>`,
  `$JS.API.CONSUMER.DURABLE.CREATE.${stream}.*`,
  `$JS.API.CONSUMER.INFO.${stream}.*`,
  `$JS.API.CONSUMER.MSG.NEXT.${stream}.*`,
  `$JS.ACK.${stream}.>`,
];

/** Creating a stream that is missing (never changing one: `$JS.API.STREAM.UPDATE` is the admin's). */
const createStream = (stream: string) => [`$JS.API.STREAM.CREATE.${stream}`];

const eventSubjects = (ns: string, types: string[], forResources: string[] | '*') =>
  types.flatMap((type) => (forResources === '*' ? [`${ns}.events.${type}.*`] : forResources.map((r) => `${ns}.events.${type}.${r}`)));

/** Every identity's permissions, from the identities file and the event types this build knows. */
export const permissionsOf = (identities: Identities, knownTypes: string[] = continuityEvents.knownTypes()): IdentityPermissions[] => {
  const ns = identities.namespace;
  const topology = topologyOfNamespace(ns);
  const replay = replayStreamOf(topology);
  const streams = [topology.eventStream, topology.deadLetterStream, replay];
  const owned = (service: ServiceIdentity) => knownTypes.filter((t) => servicesPublishing(t).includes(service));
  // Every service runs the transport (durable consumers on the event and replay streams, dead
  // letters, replays through its DLQ API) and makes the streams if they are missing.
  const serviceBase = [
    '$JS.API.INFO',
    ...streams.flatMap((s) => [...readStream(s), ...createStream(s)]),
    `${ns}.dlq.>`,
    `${ns}.replay.>`,
    ...eventSubjects(ns, [REPLAY_EVENT_TYPE], '*'),
  ];
  const inbox = { allow: ['_INBOX.>'], deny: [] };
  const objectStore = (b: string, write: boolean) => [
    ...readStream(`OBJ_${b}`),
    ...(write ? [...createStream(`OBJ_${b}`), `$O.${b}.>`, `$JS.API.STREAM.PURGE.OBJ_${b}`] : []),
  ];
  const service = (name: ServiceIdentity, summary: string, publish: string[], deny: string[] = DESTRUCTIVE): IdentityPermissions => ({
    name,
    kind: 'service',
    summary,
    permissions: { publish: { allow: [...serviceBase, ...publish], deny }, subscribe: inbox },
  });
  const { backup, verifier } = identities.services;
  const kv = failoverBuckets(ns);
  return [
    service(
      'backup',
      `${owned('backup').join(', ')} for ${backup.resources.join(', ') || '(no resources)'}; writes object stores ${backup.objectStores.join(', ') || '(none)'} (and purges their expired objects)`,
      [...eventSubjects(ns, owned('backup'), backup.resources), ...backup.objectStores.flatMap((b) => objectStore(b, true))],
      // Retention removes expired copies from its object stores (a purge by subject): that purge
      // alone, never the streams of events, dead letters or replays.
      DESTRUCTIVE.filter((s) => s !== '$JS.API.STREAM.PURGE.>').concat(streams.map((s) => `$JS.API.STREAM.PURGE.${s}`)),
    ),
    service('verifier', `${owned('verifier').join(', ')}; reads object stores ${verifier.objectStores.join(', ') || '(none)'}`, [
      ...eventSubjects(ns, owned('verifier'), '*'),
      ...verifier.objectStores.flatMap((b) => objectStore(b, false)),
    ]),
    service('failover', `${owned('failover').join(', ')}; writes routes, epochs and leases in KV ${kv.join(', ')}`, [
      ...eventSubjects(ns, owned('failover'), '*'),
      ...kv.flatMap((b) => [...readStream(`KV_${b}`), ...createStream(`KV_${b}`), `$KV.${b}.>`]),
    ]),
    service('audit', `${owned('audit').join(', ')}`, eventSubjects(ns, owned('audit'), '*')),
    ...identities.publishers.map(
      (p): IdentityPermissions => ({
        name: p.name,
        kind: 'publisher',
        summary: `external publisher: ${EXTERNAL_EVENT_TYPE} for ${p.resources.join(', ')} only`,
        permissions: { publish: { allow: eventSubjects(ns, [EXTERNAL_EVENT_TYPE], p.resources), deny: DESTRUCTIVE }, subscribe: inbox },
      }),
    ),
    {
      name: 'admin',
      kind: 'admin',
      summary: 'everything, including deleting and purging streams and buckets and changing stream limits: provisioning and repair only',
      permissions: { publish: { allow: ['>'], deny: [] }, subscribe: { allow: ['>'], deny: [] } },
    },
  ];
};

const quote = (s: string) => JSON.stringify(s);
const list = (items: string[], indent: string) => (items.length ? `[\n${items.map((i) => `${indent}  ${quote(i)}`).join(',\n')}\n${indent}]` : '[]');

/** The `authorization` block of a NATS server configuration, one nkey user per identity. */
export const renderAuthorization = (identities: IdentityPermissions[], publicKeys: ReadonlyMap<string, string>, namespace: string): string => {
  const users = identities.map((identity) => {
    const { publish, subscribe } = identity.permissions;
    const deny = (items: string[], indent: string) => (items.length ? `,\n${indent}deny: ${list(items, indent)}` : '');
    return [
      `    # ${identity.name} (${identity.kind}): ${identity.summary}`,
      `    {`,
      `      nkey: ${publicKeys.get(identity.name)}`,
      `      permissions: {`,
      `        publish: {\n          allow: ${list(publish.allow, '          ')}${deny(publish.deny, '          ')}\n        }`,
      `        subscribe: {\n          allow: ${list(subscribe.allow, '          ')}${deny(subscribe.deny, '          ')}\n        }`,
      `      }`,
      `    }`,
    ].join('\n');
  });
  return [
    `# Generated by \`npm run nats:auth\` from the identities file: do not edit, regenerate.`,
    `# Namespace ${namespace}. One nkey user per service, per external publisher, and the admin.`,
    `# Publish permissions are allow-lists: a subject not listed is refused ("Permissions Violation").`,
    `# - only failover publishes Failover* and writes the failover KV buckets; failover and the verifier publish ResourceDegraded;`,
    `# - only the verifier publishes IntegrityVerified and WalVerified;`,
    `# - only backup publishes Backup* (and Restore*) events, for the resources listed for it;`,
    `# - external publishers publish BackupCreated for their own resources, nothing else;`,
    `# - audit publishes Audit* (checkpoints, signing key changes), Slo* and Risk* (its findings) and NotificationDelivered;`,
    `# - services create missing streams but never change, purge or delete them: stream updates,`,
    `#   purges and deletions ($JS.API.STREAM.UPDATE/PURGE/DELETE/MSG.DELETE) and bucket deletion`,
    `#   are the admin's (backup may purge objects of its own object stores, for retention).`,
    `# Replies come on _INBOX.> (JetStream API answers, pulled messages). Decision record 0024.`,
    `authorization {`,
    `  users: [`,
    users.join(',\n'),
    `  ]`,
    `}`,
    ``,
  ].join('\n');
};

export interface GeneratedAuth {
  /** The server configuration's `authorization` block. */
  configFile: string;
  /** Per identity, the nkey seed file (`NATS_NKEY_SEED_FILE`), mode 0600. */
  seedFiles: Map<string, string>;
  /** `CONTINUITY_PUBLISHERS` for the services, from the same file. */
  publishersEnv: string;
}

/**
 * Writes `nats-auth.conf`, `<identity>.nk` (mode 0600) per identity and `publishers.env` to `outDir`.
 * An identity whose seed file exists keeps its key (regenerating after an edit does not rotate
 * every credential); delete a seed file to rotate that identity's key.
 */
export const generateNatsAuth = (identitiesText: string, outDir: string): GeneratedAuth => {
  const identities = parseIdentities(identitiesText);
  const all = permissionsOf(identities);
  mkdirSync(outDir, { recursive: true, mode: 0o700 });
  const publicKeys = new Map<string, string>();
  const seedFiles = new Map<string, string>();
  for (const identity of all) {
    const file = join(outDir, `${identity.name}.nk`);
    const pair = existsSync(file) ? nkeys.fromSeed(new TextEncoder().encode(readFileSync(file, 'utf8').trim())) : nkeys.createUser();
    if (!existsSync(file)) writeFileSync(file, `${new TextDecoder().decode(pair.getSeed())}\n`, { mode: 0o600 });
    chmodSync(file, 0o600);
    publicKeys.set(identity.name, pair.getPublicKey());
    seedFiles.set(identity.name, file);
  }
  const configFile = join(outDir, 'nats-auth.conf');
  writeFileSync(configFile, renderAuthorization(all, publicKeys, identities.namespace), { mode: 0o644 });
  const publishersEnv = identities.publishers.map((p) => `${p.name}=${p.resources.join(',')}`).join(';');
  writeFileSync(join(outDir, 'publishers.env'), `CONTINUITY_PUBLISHERS=${publishersEnv}\n`);
  return { configFile, seedFiles, publishersEnv };
};

