import { createHash, randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { z } from 'zod';
import { WAL_HISTORY_PATTERN, WAL_SEGMENT_PATTERN, walArtifactKey, type ArtifactKey } from './artifact.js';
import { WAL_PARTIAL_VERSION_PATTERN } from './wal-versions.js';
import { zstdDecompress } from './zstd.js';

/**
 * Point-in-time restore reads WAL back from the archive. PostgreSQL asks for each file it needs
 * through `restore_command`; ours is `continuity wal-fetch <file> <dest>`, which reads a restore
 * plan written into the data directory by the restore: which copies hold each file, with the
 * stored hash of each copy and the plaintext hash of the file, and where the copies and the key
 * file are. No secret is in the plan (the key file's path, never its content) nor in argv.
 *
 * `fetchWalFile` tries the file's copies in the plan's order: a copy is used only when its
 * stored bytes match their SHA-256 and, decrypted and decompressed, the plaintext matches too;
 * anything else is refused (said so) and the next copy is tried. The file is written under a
 * temporary name and renamed: PostgreSQL never sees a half-written segment.
 */

export const RESTORE_PLAN_FILE = 'continuity-restore-plan.json';
/** One JSON line per file PostgreSQL asked for: which copy served it, which were refused. */
export const WAL_FETCH_LOG = 'continuity-wal-fetch.log';
export const RESTORE_PLAN_FORMAT = 'continuity-restore-plan/v1';

const Sha256 = z.string().regex(/^[0-9a-f]{64}$/);
/** Only PostgreSQL's own WAL file names: never a path (`../`, `/`), never anything else. */
export const isWalFileName = (name: string) => WAL_SEGMENT_PATTERN.test(name) || WAL_HISTORY_PATTERN.test(name);
const WalName = z.string().refine(isWalFileName, 'must be a WAL segment (24 hex digits) or <timeline>.history');

const AbsolutePath = z.string().startsWith('/');

export const PlanLocationSchema = z.discriminatedUnion('kind', [
  z.strictObject({ name: z.string().min(1), kind: z.literal('filesystem'), path: z.string().startsWith('/') }),
  z.strictObject({ name: z.string().min(1), kind: z.literal('object-store'), bucket: z.string().min(1), natsUrl: z.string().min(1) }),
]);

export const PlanWalFileSchema = z
  .strictObject({
    name: WalName,
    /**
     * The stored object to read when it is not `name`: the version of a partial segment the plan was
     * made with (`<name>.partial.<bytes>`), never overwritten by a later shipment. Absent: `name`.
     */
    object: z.string().regex(WAL_PARTIAL_VERSION_PATTERN).optional(),
    timeline: z.int().positive(),
    startLsn: z.string(),
    endLsn: z.string(),
    partial: z.boolean(),
    plaintextSha256: Sha256,
    plaintextSizeBytes: z.int().nonnegative(),
    /** In the order to try them. */
    copies: z.array(z.strictObject({ location: z.string().min(1), sha256: Sha256, sizeBytes: z.int().nonnegative() })).min(1),
  })
  .refine((f) => f.object === undefined || (f.partial && f.object.startsWith(`${f.name}.`)), { message: 'object must be a partial version of the file named', path: ['object'] });

export const RestorePlanSchema = z.strictObject({
  format: z.literal(RESTORE_PLAN_FORMAT),
  resource: z.string().min(1),
  backupId: z.string().min(1),
  target: z.strictObject({ kind: z.enum(['time', 'lsn', 'name', 'latest']), value: z.string().nullable() }),
  /** Where the WAL records came from: the copies' manifests (agreeing), or the WalArchived events. */
  recordsFrom: z.string(),
  /** The age key file to decrypt with (its path; read by wal-fetch when it runs). */
  encryption: z.strictObject({ keyFile: z.string().startsWith('/') }).nullable(),
  locations: z.array(PlanLocationSchema),
  /**
   * How wal-fetch proves who it is to the NATS of object-store copies: the credential files' paths
   * (never their content; read by wal-fetch when it runs), as NATS_CREDS / NATS_NKEY_SEED_FILE /
   * NATS_CA name them. Absent or null: none recorded (wal-fetch's own environment may give them).
   */
  nats: z
    .strictObject({ NATS_CREDS: AbsolutePath.optional(), NATS_NKEY_SEED_FILE: AbsolutePath.optional(), NATS_CA: AbsolutePath.optional() })
    .nullable()
    .optional(),
  files: z.array(PlanWalFileSchema),
});

export type RestorePlan = z.infer<typeof RestorePlanSchema>;
export type PlanWalFile = z.infer<typeof PlanWalFileSchema>;
export type PlanLocation = z.infer<typeof PlanLocationSchema>;

export class RestorePlanError extends Error {
  override readonly name = 'RestorePlanError';
  readonly code = 'RESTORE.PLAN_INVALID';
}

export const parseRestorePlan = (text: string): RestorePlan => {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new RestorePlanError(`the restore plan is not JSON: ${(error as Error).message}`);
  }
  const parsed = RestorePlanSchema.safeParse(raw);
  if (!parsed.success) throw new RestorePlanError(`the restore plan is invalid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return parsed.data;
};

export interface WalFetchAttempt {
  location: string;
  error: string;
}

export type WalFetchOutcome =
  /** Written to `dest` from `copy`; `refused` lists the copies tried before it and why. */
  | { outcome: 'fetched'; name: string; copy: string; refused: WalFetchAttempt[]; partial: boolean; object?: string }
  /** Not in the archive (PostgreSQL asks for files past the end, and for history files that may not exist). */
  | { outcome: 'absent'; name: string }
  /** In the plan, but no copy could be used: recovery must stop here, and the restore must say so. */
  | { outcome: 'failed'; name: string; refused: WalFetchAttempt[] };

export interface WalFetchDeps {
  /** The stored bytes of one copy (rejects when unreadable). */
  read(location: string, key: ArtifactKey): Promise<Readable>;
  /** age identities, for an encrypted archive. */
  identities: readonly string[];
}

const readAll = async (stream: AsyncIterable<Buffer | Uint8Array>, limit: number) => {
  const parts: Buffer[] = [];
  let length = 0;
  for await (const chunk of stream) {
    length += chunk.length;
    if (length > limit) throw new Error(`more than the ${limit} bytes expected`);
    parts.push(Buffer.from(chunk));
  }
  return Buffer.concat(parts, length);
};

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** The plaintext of one copy, or why it cannot be used. */
const readCopy = async (plan: RestorePlan, file: PlanWalFile, copy: PlanWalFile['copies'][number], deps: WalFetchDeps): Promise<Buffer> => {
  const key = walArtifactKey(plan.resource, file.object ?? file.name, plan.encryption !== null);
  const stored = await readAll(await deps.read(copy.location, key), copy.sizeBytes);
  const storedHash = sha256(stored);
  if (stored.length !== copy.sizeBytes || storedHash !== copy.sha256) {
    throw new Error(`SHA-256 mismatch: the copy holds ${stored.length} bytes with SHA-256 ${storedHash}, the archive recorded ${copy.sizeBytes} bytes with ${copy.sha256}`);
  }
  // age is loaded only for an encrypted archive: wal-fetch starts once per WAL file, and its curves cost a second to load.
  const compressed = plan.encryption
    ? await (await import('./encryption.js')).decryptStream(Readable.from([stored]), deps.identities, `WAL file ${file.name}`)
    : Readable.from([stored]);
  const plain = await readAll(zstdDecompress(compressed), file.plaintextSizeBytes);
  const plainHash = sha256(plain);
  if (plain.length !== file.plaintextSizeBytes || plainHash !== file.plaintextSha256) {
    throw new Error(`decompressed, it is ${plain.length} bytes with SHA-256 ${plainHash}, not the archived ${file.plaintextSizeBytes} bytes with ${file.plaintextSha256}`);
  }
  return plain;
};

/** Writes `bytes` to `dest` atomically (temporary name in the same folder, fsync, rename). */
const writeAtomic = async (dest: string, bytes: Buffer) => {
  const temp = join(dirname(dest), `.continuity-wal-fetch-${randomBytes(4).toString('hex')}`);
  const handle = await open(temp, 'wx', 0o600);
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } catch (error) {
    await handle.close().catch(() => undefined);
    await rm(temp, { force: true });
    throw error;
  }
  await handle.close();
  await rename(temp, dest).catch(async (error) => {
    await rm(temp, { force: true });
    throw error;
  });
};

/**
 * Fetches WAL file `name` into `dest`, copy by copy. A name that is not a WAL file name is
 * refused before anything is read (it comes from whoever runs the command).
 */
export const fetchWalFile = async (plan: RestorePlan, name: string, dest: string, deps: WalFetchDeps): Promise<WalFetchOutcome> => {
  if (!isWalFileName(name)) throw new RestorePlanError(`"${name}" is not a WAL file name: refused`);
  const file = plan.files.find((f) => f.name === name);
  if (!file) return { outcome: 'absent', name };
  const refused: WalFetchAttempt[] = [];
  for (const copy of file.copies) {
    let plain: Buffer;
    try {
      plain = await readCopy(plan, file, copy, deps);
    } catch (error) {
      refused.push({ location: copy.location, error: (error as Error).message });
      continue;
    }
    await writeAtomic(dest, plain);
    return { outcome: 'fetched', name, copy: copy.location, refused, partial: file.partial, ...(file.object ? { object: file.object } : {}) };
  }
  return { outcome: 'failed', name, refused };
};
