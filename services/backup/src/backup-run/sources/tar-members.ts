/**
 * Picks a few named members out of a tar stream as it passes, reading nothing but the 512-byte
 * headers and the wanted members' bytes (ustar names with their prefix, GNU long names, pax
 * `path` records; sizes in octal or base-256). Everything else is skipped by its size, so a
 * gigabyte of data files costs a header each. The chunks it is given may be reused by the caller
 * once `write` returns: what is kept is copied. A header whose checksum is wrong, a member bigger
 * than `maxMemberBytes`, or an archive that ends before its end-of-archive blocks is an error.
 * (tar's Parser keeps views of the chunks it is given and turns every member into a stream:
 * neither fits a reader that refills its buffers and wants four small files out of a thousand.)
 */

export class TarFormatError extends Error {
  override readonly name = 'TarFormatError';
}

const BLOCK = 512;
const text = (bytes: Buffer) => {
  const end = bytes.indexOf(0);
  return bytes.toString('utf8', 0, end < 0 ? bytes.length : end);
};

/** A numeric header field: octal digits (space or NUL ended), or base-256 when its first byte has the high bit. */
const numberField = (field: Buffer): number => {
  if (field[0]! & 0x80) {
    let value = field[0]! & 0x7f;
    for (let i = 1; i < field.length; i++) value = value * 256 + field[i]!;
    return value;
  }
  const digits = text(field).trim();
  return digits === '' ? 0 : parseInt(digits, 8);
};

const isZeroBlock = (block: Buffer) => {
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false;
  return true;
};

/** The `path` record of a pax extended header ("<length> path=<value>\n" records). */
const paxPath = (body: Buffer): string | null => {
  let at = 0;
  while (at < body.length) {
    const space = body.indexOf(0x20, at);
    if (space < 0) break;
    const length = parseInt(body.toString('utf8', at, space), 10);
    if (!Number.isInteger(length) || length <= 0) break;
    const record = body.toString('utf8', space + 1, at + length - 1);
    if (record.startsWith('path=')) return record.slice('path='.length);
    at += length;
  }
  return null;
};

interface Member {
  /** Regular file to keep (its normalized path), a GNU long name, a pax header, or skipped. */
  kind: 'keep' | 'longname' | 'pax' | 'skip';
  path: string;
  parts: Buffer[];
}

export class TarMembers {
  readonly found = new Map<string, Buffer>();
  private readonly header = Buffer.alloc(BLOCK);
  private headerFill = 0;
  private remaining = 0;
  private padding = 0;
  private member: Member | null = null;
  /** The next member's name, from a GNU long name or pax header before it. */
  private nextName: string | null = null;
  private zeroBlocks = 0;
  private ended = false;
  private failure: Error | null = null;

  constructor(
    private readonly wanted: ReadonlySet<string>,
    private readonly maxMemberBytes = 64 << 20,
  ) {}

  write(chunk: Buffer) {
    if (this.failure || this.ended) return;
    try {
      this.consume(chunk);
    } catch (error) {
      this.failure = error as Error;
    }
  }

  /** Throws why the archive is unreadable, or that it ended early. */
  end() {
    if (this.failure) throw this.failure;
    if (!this.ended) throw new TarFormatError(this.member || this.headerFill ? 'the archive ends inside a member' : 'the archive has no end-of-archive blocks');
  }

  private consume(chunk: Buffer) {
    let at = 0;
    while (at < chunk.length && !this.ended) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, chunk.length - at);
        if (this.member!.kind !== 'skip') this.member!.parts.push(Buffer.from(chunk.subarray(at, at + take)));
        this.remaining -= take;
        at += take;
        if (this.remaining === 0) this.memberEnded();
      } else if (this.padding > 0) {
        const take = Math.min(this.padding, chunk.length - at);
        this.padding -= take;
        at += take;
      } else {
        const take = Math.min(BLOCK - this.headerFill, chunk.length - at);
        chunk.copy(this.header, this.headerFill, at, at + take);
        this.headerFill += take;
        at += take;
        if (this.headerFill === BLOCK) {
          this.headerFill = 0;
          this.headerRead();
        }
      }
    }
  }

  private headerRead() {
    const h = this.header;
    if (isZeroBlock(h)) {
      if (++this.zeroBlocks === 2) this.ended = true;
      return;
    }
    if (this.zeroBlocks) throw new TarFormatError('a lone zero block inside the archive');
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]!;
    if (sum !== numberField(h.subarray(148, 156))) throw new TarFormatError('a tar header with a wrong checksum');
    const size = numberField(h.subarray(124, 136));
    const type = String.fromCharCode(h[156]!);
    const prefix = h.toString('latin1', 257, 262) === 'ustar' ? text(h.subarray(345, 500)) : '';
    const name = this.nextName ?? (prefix ? `${prefix}/${text(h.subarray(0, 100))}` : text(h.subarray(0, 100)));
    const path = name.replace(/^\.\//, '');
    const kind: Member['kind'] =
      type === 'L' ? 'longname' : type === 'x' ? 'pax' : (type === '0' || type === '\0' || type === '7') && this.wanted.has(path) ? 'keep' : 'skip';
    if (kind !== 'skip' && size > this.maxMemberBytes) throw new TarFormatError(`tar member ${path} is ${size} bytes (at most ${this.maxMemberBytes} read)`);
    if (type !== 'L' && type !== 'x' && type !== 'g') this.nextName = null;
    this.member = { kind, path, parts: [] };
    this.remaining = size;
    this.padding = (BLOCK - (size % BLOCK)) % BLOCK;
    if (size === 0) this.memberEnded();
  }

  private memberEnded() {
    const member = this.member!;
    this.member = null;
    if (member.kind === 'skip') return;
    const body = Buffer.concat(member.parts);
    if (member.kind === 'keep') this.found.set(member.path, body);
    else if (member.kind === 'longname') this.nextName = text(body);
    else this.nextName = paxPath(body) ?? this.nextName;
  }
}
