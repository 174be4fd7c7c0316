import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { lsnValue, partialVersionName, walArtifactKey, walFileFacts, zstdCompress, ZSTD_FRAME_BYTES } from '@continuity/artifacts';
import type { WalSegment } from '@continuity/contracts';
import type { CopyWriter } from '../backup-run/locations/location.js';
import type { LocationRegistry } from '../backup-run/locations/location.registry.js';
import { streamToCopies } from '../backup-run/one-pass.js';
import type { ResolvedPolicy } from '../config/backup-config.loader.js';
import { lsnText } from './wal-position.js';

/** A WAL file up to this size is read whole (the default segment is 16 MiB). */
const WHOLE_READ_BYTES = 64 << 20;

export interface WalFile {
  name: string;
  path: string;
  partial: boolean;
  /** A partial segment: its bytes as read, and how many of them were received. */
  bytes?: Buffer;
  received?: number;
}

/**
 * The name a file is stored under: a partial segment's shipment is a version of its own
 * (`<segment>.partial.<bytes received>`, never overwritten by the next shipment, which a restore
 * may have planned on); a finished segment or history file its own name.
 */
export const storedNameOf = (file: Pick<WalFile, 'name' | 'partial' | 'received'>): string =>
  file.partial ? partialVersionName(file.name, file.received ?? 0) : file.name;

/**
 * One WAL file to every copy of the policy: read once, zstd, (age), hashed on the way; committed
 * everywhere or nowhere (any failure aborts every copy this attempt began).
 */
export const shipWalFile = async (policy: ResolvedPolicy, locations: Pick<LocationRegistry, 'get'>, file: WalFile, now: () => Date): Promise<WalSegment> => {
  const facts = walFileFacts(file.name);
  let startLsn = facts.startLsn;
  let endLsn = facts.endLsn;
  let source: Readable;
  if (facts.kind === 'history') {
    const text = await readFile(file.path);
    ({ startLsn, endLsn } = historySwitchPoint(text.toString('utf8')));
    source = Readable.from([text]);
  } else if (file.partial && file.bytes) {
    endLsn = lsnText(lsnValue(facts.startLsn) + BigInt(file.received ?? 0));
    source = Readable.from([file.bytes]);
  } else {
    // One read into one buffer (a segment is 16 MiB by default): a read stream would hand over 64 KiB
    // buffers to be gathered again into zstd's frames, garbage the collector chases during a base
    // backup. A cluster made with a larger --wal-segsize (up to 1 GiB) is read in frame-sized pieces.
    source = (await stat(file.path)).size <= WHOLE_READ_BYTES ? Readable.from([await readFile(file.path)]) : createReadStream(file.path, { highWaterMark: ZSTD_FRAME_BYTES });
  }
  const object = storedNameOf(file);
  const key = walArtifactKey(policy.resourceName, object, policy.encryption !== null);
  const writers: CopyWriter[] = [];
  try {
    const begun = await Promise.allSettled(policy.copies.map((c) => locations.get(c.name).begin(key)));
    begun.forEach((b) => b.status === 'fulfilled' && writers.push(b.value));
    const refused = begun.find((b): b is PromiseRejectedResult => b.status === 'rejected');
    if (refused) throw refused.reason;
    // The one pass hashes what it is given (the compressed stream): the WAL file itself is
    // hashed on the way into the compressor, in the same single read.
    const walHash = createHash('sha256');
    let walBytes = 0;
    const tap = async function* (input: AsyncIterable<Buffer>) {
      for await (const chunk of input) {
        walHash.update(chunk);
        walBytes += chunk.length;
        yield chunk;
      }
    };
    const compressed = Readable.from(zstdCompress(tap(source)), { objectMode: false });
    const digests = await streamToCopies({ source: compressed, encryption: policy.encryption, writers });
    const plain = { sha256: walHash.digest('hex'), sizeBytes: walBytes };
    await Promise.all(writers.map((w) => w.finish(digests.stored)));
    const manifest = Buffer.from(
      `${JSON.stringify(
        {
          kind: 'wal',
          resource: policy.resourceName,
          name: file.name,
          ...(object !== file.name ? { object } : {}),
          type: facts.kind,
          timeline: facts.timeline,
          startLsn,
          endLsn,
          partial: file.partial,
          stored: digests.stored,
          plaintext: plain,
          compression: { format: 'zstd' },
          encryption: policy.encryption ? { format: 'age', recipients: policy.encryption.recipients } : null,
          archivedAt: now().toISOString(),
        },
        null,
        1,
      )}\n`,
    );
    for (const writer of writers) await writer.commit(manifest);
    return {
      name: file.name,
      ...(object !== file.name ? { object } : {}),
      kind: facts.kind,
      timeline: facts.timeline,
      startLsn,
      endLsn,
      partial: file.partial,
      sha256: digests.stored.sha256,
      sizeBytes: digests.stored.sizeBytes,
      plaintextSha256: plain.sha256,
      plaintextSizeBytes: plain.sizeBytes,
      copies: writers.map((w) => {
        const copy = policy.copies.find((c) => c.name === w.location)!;
        return { location: w.location, site: copy.location.site, medium: copy.location.medium, uri: w.uri, sha256: digests.stored.sha256 };
      }),
    };
  } catch (error) {
    // A finished file stays in the spool and is shipped again by the next scan; a partial
    // copy of it must not stay behind under its final name. A partial segment's earlier
    // versions have names of their own: aborting removes only what this attempt made.
    await Promise.all(writers.map((w) => w.abort(error as Error)));
    throw error;
  }
};

/**
 * pg_receivewal pre-sizes a partial segment with zeros: what was received ends at the last
 * non-zero byte, rounded up to PostgreSQL's 8-byte alignment (a lower bound of what it holds:
 * a record ending in zeros is counted short by at most those zeros).
 */
export const receivedBytes = (bytes: Buffer) => {
  let end = bytes.length;
  // Whole zero blocks from the end compared natively, then the last block byte by byte.
  while (end >= ZERO_BLOCK.length && bytes.subarray(end - ZERO_BLOCK.length, end).equals(ZERO_BLOCK)) end -= ZERO_BLOCK.length;
  while (end > 0 && bytes[end - 1] === 0) end--;
  return Math.min(bytes.length, Math.ceil(end / 8) * 8);
};
const ZERO_BLOCK = Buffer.alloc(64 << 10);

/** A history file's last line says where the newest timeline began: `<parent tli>\t<switch LSN>\t<reason>`. */
const historySwitchPoint = (text: string): { startLsn: string; endLsn: string } => {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const lsn = lines.length ? /^\d+\s+([0-9A-F]+\/[0-9A-F]+)/i.exec(lines[lines.length - 1]!)?.[1] : undefined;
  const at = lsn ? lsnText(lsnValue(lsn)) : '0/0';
  return { startLsn: at, endLsn: at };
};
