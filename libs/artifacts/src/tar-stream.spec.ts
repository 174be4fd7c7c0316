import { Header, Parser } from 'tar';
import { tarMemberSize, tarPastEndMarkers, TarFormatError } from './tar-stream.js';

const member = (path: string, body: Buffer) => {
  const header = new Header({ path, mode: 0o600, size: body.length, mtime: new Date(0), type: 'File', uid: 0, gid: 0 });
  header.encode();
  return Buffer.concat([header.block!, body, Buffer.alloc((512 - (body.length % 512)) % 512)]);
};
const archive = (...members: Buffer[]) => Buffer.concat([...members, Buffer.alloc(1024)]);

async function* pieces(data: Buffer, size: number) {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}
const collect = async (source: AsyncIterable<Buffer>) => {
  const parts: Buffer[] = [];
  for await (const part of source) parts.push(part);
  return Buffer.concat(parts);
};
/** What node-tar (which stops at the first end marker) lists, with each member's content. */
const list = (tar: Buffer) =>
  new Promise<Record<string, string>>((resolve, reject) => {
    const seen: Record<string, string> = {};
    const parser = new Parser({
      onReadEntry: (entry) => {
        const parts: Buffer[] = [];
        entry.on('data', (d: Buffer) => parts.push(d));
        entry.on('end', () => (seen[entry.path] = Buffer.concat(parts).toString()));
      },
    });
    parser.on('error', reject);
    parser.on('end', () => resolve(seen));
    parser.end(tar);
  });

describe('tarPastEndMarkers', () => {
  // Bodies of 0, 1, 511, 512 and 513 bytes; one holds zero blocks that must pass as content.
  const first = archive(member('PG_VERSION', Buffer.from('15\n')), member('empty', Buffer.alloc(0)), member('zeros', Buffer.alloc(1536)), member('a', Buffer.alloc(511, 'a')), member('b', Buffer.alloc(512, 'b')), member('c', Buffer.alloc(513, 'c')));
  const second = archive(member('backup_manifest', Buffer.from('{"Files": []}')));
  const both = Buffer.concat([first, second]);

  it('a reader that stops at the first end marker misses the second archive without it', async () => {
    expect(Object.keys(await list(both))).not.toContain('backup_manifest');
  });

  it('gives one archive with every member and content, whatever the piece sizes', async () => {
    for (const size of [1, 7, 511, 512, 513, 1024, 4096, both.length]) {
      const out = await collect(tarPastEndMarkers(pieces(both, size)));
      const seen = await list(out);
      expect(Object.keys(seen)).toEqual(['PG_VERSION', 'empty', 'zeros', 'a', 'b', 'c', 'backup_manifest']);
      expect(seen['zeros']).toBe('\0'.repeat(1536));
      expect(seen['c']).toBe('c'.repeat(513));
      expect(seen['backup_manifest']).toBe('{"Files": []}');
      expect(out.subarray(-1024).equals(Buffer.alloc(1024))).toBe(true);
    }
  });

  it('passes a single archive through unchanged', async () => {
    expect((await collect(tarPastEndMarkers(pieces(first, 1000)))).equals(first)).toBe(true);
  });

  it('reads octal and base-256 sizes and refuses a size that is neither', () => {
    const header = Buffer.alloc(512);
    header.write('00000001750\0', 124, 'latin1');
    expect(tarMemberSize(header)).toBe(1000);
    header.fill(0, 124, 136);
    header[124] = 0x80;
    header.writeUIntBE(5 * 2 ** 40, 130, 6);
    expect(tarMemberSize(header)).toBe(5 * 2 ** 40);
    header.fill(0, 124, 136);
    header.write('12x', 124, 'latin1');
    expect(() => tarMemberSize(header)).toThrow(TarFormatError);
  });
});

describe('tarPastEndMarkers against crafted archives', () => {
  const paxHeader = (records: string) => {
    const body = Buffer.from(records);
    const header = new Header({ path: 'PaxHeader/a', mode: 0o644, size: body.length, mtime: new Date(0), type: 'ExtendedHeader' });
    header.encode();
    return Buffer.concat([header.block!, body, Buffer.alloc((512 - (body.length % 512)) % 512)]);
  };
  const record = (key: string, value: string) => {
    const text = ` ${key}=${value}\n`;
    let length = text.length + 1;
    while (String(length).length + text.length !== length) length++;
    return `${length}${text}`;
  };
  const rawMember = (path: string, sizeField: number, content: Buffer) => {
    const header = new Header({ path, mode: 0o600, size: sizeField, mtime: new Date(0), type: 'File' });
    header.encode();
    return Buffer.concat([header.block!, content]);
  };

  it('follows a pax size= as every reader does: zero blocks inside such a member are its content, not end markers', async () => {
    // a's own size field says 0, the pax header says 1024: GNU tar, bsdtar and node-tar read 1024 bytes of zeros as a's content, then b.
    const crafted = Buffer.concat([paxHeader(record('size', '1024')), rawMember('a', 0, Buffer.alloc(1024)), member('b', Buffer.from('evil')), Buffer.alloc(1024)]);
    const direct = await list(crafted);
    const out = await list(await collect(tarPastEndMarkers(pieces(crafted, 100))));
    expect(Object.keys(direct)).toEqual(['a', 'b']);
    expect(out).toEqual(direct);
  });

  it('refuses what it cannot follow as tar does: old GNU sparse members, a global pax size, malformed pax records', async () => {
    const sparse = Buffer.from(member('s', Buffer.alloc(10)));
    sparse[156] = 'S'.charCodeAt(0);
    await expect(collect(tarPastEndMarkers(pieces(sparse, 512)))).rejects.toThrow('old GNU sparse');
    const global = paxHeader(record('size', '10'));
    global[156] = 'g'.charCodeAt(0);
    await expect(collect(tarPastEndMarkers(pieces(Buffer.concat([global, member('x', Buffer.alloc(10))]), 512)))).rejects.toThrow('global pax header that sets size');
    await expect(collect(tarPastEndMarkers(pieces(paxHeader('99 size=1\n'), 512)))).rejects.toThrow('malformed record');
    await expect(collect(tarPastEndMarkers(pieces(paxHeader(record('size', '1e3')), 512)))).rejects.toThrow('not a whole number');
  });
});
