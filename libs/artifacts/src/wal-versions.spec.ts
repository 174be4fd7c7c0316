import { artifactPath, walArtifactKey } from './artifact.js';
import { isWalObjectName, parseWalObjectName, partialVersionName, walFileOfObject } from './wal-versions.js';

describe('partial WAL segment versions', () => {
  const segment = '000000010000000000000003';

  it('names a version by the bytes it holds, in 8 hex digits, so names sort as the versions grow', () => {
    expect(partialVersionName(segment, 0x1a38)).toBe('000000010000000000000003.partial.00001A38');
    expect(partialVersionName(segment, 16 << 20)).toBe('000000010000000000000003.partial.01000000');
    const names = [0x2000, 0x1a38, 0x100000].map((n) => partialVersionName(segment, n));
    expect([...names].sort()).toEqual([partialVersionName(segment, 0x1a38), partialVersionName(segment, 0x2000), partialVersionName(segment, 0x100000)]);
  });

  it('refuses what is not a segment or a partial length', () => {
    expect(() => partialVersionName('00000002.history', 8)).toThrow('is not a WAL segment name');
    expect(() => partialVersionName(segment, 0)).toThrow("is not a partial segment's length");
    expect(() => partialVersionName(segment, (1 << 30) + 8)).toThrow("is not a partial segment's length");
  });

  it('parses a version back to its segment and length; a plain name is a file of its own', () => {
    expect(parseWalObjectName('000000010000000000000003.partial.00001A38')).toEqual({ file: segment, partialBytes: 0x1a38 });
    expect(parseWalObjectName(segment)).toEqual({ file: segment, partialBytes: null });
    expect(parseWalObjectName('00000002.history')).toEqual({ file: '00000002.history', partialBytes: null });
    expect(walFileOfObject('000000010000000000000003.partial.00001A38')).toBe(segment);
    expect(walFileOfObject(segment)).toBe(segment);
  });

  it('refuses anything else: lower case, PostgreSQL\'s own .partial, a zero or oversized length, paths', () => {
    for (const bad of ['000000010000000000000003.partial', '000000010000000000000003.partial.00001a38', '000000010000000000000003.partial.00000000', '000000010000000000000003.partial.40000008', '../000000010000000000000003.partial.00001A38', '00000002.history.partial.00000008']) {
      expect(parseWalObjectName(bad)).toBeNull();
      expect(isWalObjectName(bad)).toBe(false);
    }
  });

  it('stores a version beside its segment, under its own name', () => {
    expect(artifactPath(walArtifactKey('orders-db', partialVersionName(segment, 0x1a38), true))).toBe('orders-db/wal/00000001/000000010000000000000003.partial.00001A38.zst.age');
  });
});
