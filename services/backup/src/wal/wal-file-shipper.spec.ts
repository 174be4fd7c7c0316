import { receivedBytes } from './wal-file-shipper.js';

describe('receivedBytes (how much of a pre-zeroed partial segment pg_receivewal has written)', () => {
  const segment = (written: number, size = 16 << 20) => {
    const bytes = Buffer.alloc(size);
    bytes.fill(0xab, 0, written);
    return bytes;
  };

  it('ends at the last non-zero byte, rounded up to 8-byte alignment, across whole zero blocks', () => {
    expect(receivedBytes(segment(0))).toBe(0);
    expect(receivedBytes(segment(1))).toBe(8);
    expect(receivedBytes(segment(8))).toBe(8);
    expect(receivedBytes(segment(65_537))).toBe(65_544);
    expect(receivedBytes(segment((3 << 20) + 5))).toBe((3 << 20) + 8);
    expect(receivedBytes(segment(16 << 20))).toBe(16 << 20);
  });

  it('finds a lone byte deep in the segment and handles sizes that are not a multiple of the block', () => {
    const bytes = Buffer.alloc((1 << 20) + 100);
    bytes[12_345] = 1;
    expect(receivedBytes(bytes)).toBe(12_352);
    bytes[bytes.length - 1] = 1;
    expect(receivedBytes(bytes)).toBe(bytes.length);
  });
});
