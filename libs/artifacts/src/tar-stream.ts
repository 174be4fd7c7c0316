/**
 * Tar streams made of several archives one after another (pure, streaming). A server-compressed
 * base backup is PostgreSQL's tar followed by a tar of its `backup_manifest` (decision 0044);
 * GNU tar and bsdtar read such a stream whole with `--ignore-zeros`, but a reader that stops at
 * the first end marker (two zero blocks) would miss what follows. {@link tarPastEndMarkers}
 * drops every zero block where a member header is expected and ends the stream with one end
 * marker, so such a reader sees one archive with every member. Member contents pass through as
 * views of the input; only the headers are looked at (a 512-byte block each).
 */

const BLOCK = 512;

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

export async function* tarPastEndMarkers(source: AsyncIterable<Buffer | Uint8Array>): AsyncGenerator<Buffer> {
  /** Bytes of the current member's content (with padding) still to pass through. */
  let body = 0;
  /** The start of a header block split across chunks. */
  let partial: Buffer | null = null;
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
        body = Math.ceil(tarMemberSize(header) / BLOCK) * BLOCK;
      }
    }
    let position = 0;
    let kept = 0;
    while (position < chunk.length) {
      if (body > 0) {
        const take = Math.min(body, chunk.length - position);
        position += take;
        body -= take;
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
      body = Math.ceil(tarMemberSize(header) / BLOCK) * BLOCK;
      position += BLOCK;
    }
    if (position > kept) yield chunk.subarray(kept, position);
  }
  // A truncated header or member is passed on as it is: the reader reports the truncation.
  if (partial) yield partial;
  yield Buffer.alloc(2 * BLOCK);
}
