/**
 * Tar streams made of several archives one after another (pure, streaming). A server-compressed
 * base backup is PostgreSQL's tar followed by a tar of its `backup_manifest` (decision 0044);
 * GNU tar and bsdtar read such a stream whole with `--ignore-zeros`, but a reader that stops at
 * the first end marker (two zero blocks) would miss what follows. {@link tarPastEndMarkers}
 * drops every zero block where a member header is expected and ends the stream with one end
 * marker, so such a reader sees one archive with every member, as `--ignore-zeros` does. Member
 * contents pass through as views of the input; headers are looked at (a 512-byte block each), and
 * the content of a pax extended header, whose `size=` replaces the next member's size field (as
 * every reader applies it). What it cannot follow as those readers do is refused: old GNU sparse
 * members (their extra header blocks are not counted in the size) and a global pax `size`.
 */

const BLOCK = 512;
/** A pax extended header larger than this is refused (PostgreSQL writes none; ours are a few hundred bytes). */
const PAX_MAX_BYTES = 1 << 20;

export class TarFormatError extends Error {
  override readonly name = 'TarFormatError';
  readonly code = 'ARTIFACT.TAR_INVALID';
}

const isZeroBlock = (block: Buffer) => {
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false;
  return true;
};

/** A header's `size` field (offset 124, 12 bytes): octal digits, or base-256 when its first byte has the high bit set. */
export const tarMemberSize = (header: Buffer): number => {
  const field = header.subarray(124, 136);
  if (field[0]! & 0x80) {
    let size = 0;
    for (let i = 1; i < field.length; i++) size = size * 256 + field[i]!;
    if (!Number.isSafeInteger(size)) throw new TarFormatError('a tar member larger than 2^53 bytes');
    return size;
  }
  const text = field.toString('latin1').replace(/\0.*$/s, '').trim();
  if (!/^[0-7]*$/.test(text)) throw new TarFormatError(`a tar header whose size is not octal ("${text}")`);
  return text ? parseInt(text, 8) : 0;
};

/** The `size` record of a pax extended header's content (`<length> size=<decimal>\n`), if any. */
export const paxSize = (content: Buffer): number | null => {
  let size: number | null = null;
  let at = 0;
  while (at < content.length) {
    const space = content.indexOf(0x20, at);
    if (space < 0) break;
    const length = Number(content.toString('latin1', at, space));
    if (!Number.isSafeInteger(length) || length <= space - at || at + length > content.length) throw new TarFormatError('a pax extended header with a malformed record');
    const record = content.toString('utf8', space + 1, at + length - 1);
    if (record.startsWith('size=')) {
      const value = record.slice(5);
      if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) throw new TarFormatError(`a pax size that is not a whole number ("${value}")`);
      size = Number(value);
    }
    at += length;
  }
  return size;
};

const padded = (size: number) => Math.ceil(size / BLOCK) * BLOCK;

export async function* tarPastEndMarkers(source: AsyncIterable<Buffer | Uint8Array>): AsyncGenerator<Buffer> {
  /** Bytes of the current member's content (with padding) still to pass through. */
  let body = 0;
  /** The content of a pax extended header being read (its size without padding first). */
  let pax: { size: number; parts: Buffer[]; read: number; global: boolean } | null = null;
  /** A pax `size=` for the next member. */
  let nextSize: number | null = null;
  /** The start of a header block split across chunks. */
  let partial: Buffer | null = null;

  /** A header block: its member's content length (with padding) to pass through. */
  const onHeader = (header: Buffer) => {
    const type = String.fromCharCode(header[156]!);
    const size = tarMemberSize(header);
    if (type === 'S') throw new TarFormatError('an old GNU sparse member: its extra headers are not followed here');
    if (type === 'x' || type === 'g') {
      if (size > PAX_MAX_BYTES) throw new TarFormatError(`a pax extended header of ${size} bytes`);
      pax = { size, parts: [], read: 0, global: type === 'g' };
      return padded(size);
    }
    const effective = nextSize ?? size;
    nextSize = null;
    return padded(effective);
  };
  const onBody = (slice: Buffer) => {
    if (!pax) return;
    const take = Math.min(slice.length, pax.size - pax.read);
    if (take > 0) pax.parts.push(Buffer.from(slice.subarray(0, take)));
    pax.read += take;
  };
  const bodyDone = () => {
    if (!pax) return;
    const size = paxSize(Buffer.concat(pax.parts));
    if (pax.global) {
      if (size !== null) throw new TarFormatError('a global pax header that sets size');
    } else if (size !== null) nextSize = size;
    pax = null;
  };

  for await (const piece of source) {
    let chunk = Buffer.isBuffer(piece) ? piece : Buffer.from(piece);
    if (partial) {
      const need = BLOCK - partial.length;
      partial = Buffer.concat([partial, chunk.subarray(0, need)]);
      chunk = chunk.subarray(need);
      if (partial.length < BLOCK) continue;
      const header = partial;
      partial = null;
      if (!isZeroBlock(header)) {
        yield header;
        body = onHeader(header);
        if (body === 0) bodyDone();
      }
    }
    let position = 0;
    let kept = 0;
    while (position < chunk.length) {
      if (body > 0) {
        const take = Math.min(body, chunk.length - position);
        onBody(chunk.subarray(position, position + take));
        position += take;
        body -= take;
        if (body === 0) bodyDone();
        continue;
      }
      if (chunk.length - position < BLOCK) {
        if (position > kept) yield chunk.subarray(kept, position);
        partial = Buffer.from(chunk.subarray(position));
        kept = position = chunk.length;
        break;
      }
      const header = chunk.subarray(position, position + BLOCK);
      if (isZeroBlock(header)) {
        if (position > kept) yield chunk.subarray(kept, position);
        position += BLOCK;
        kept = position;
        continue;
      }
      position += BLOCK;
      body = onHeader(header);
      if (body === 0) bodyDone();
    }
    if (position > kept) yield chunk.subarray(kept, position);
  }
  // A truncated header or member is passed on as it is: the reader reports the truncation.
  if (partial) yield partial;
  yield Buffer.alloc(2 * BLOCK);
}
