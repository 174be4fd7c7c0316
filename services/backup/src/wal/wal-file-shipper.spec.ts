import { receivedBytes, storedNameOf } from './wal-file-shipper.js';

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

describe('storedNameOf (the name a shipment is stored under)', () => {
  it('a partial segment under a version named by the bytes received; a finished segment or history file under its own name', () => {
    expect(storedNameOf({ name: '000000010000000000000003', partial: true, received: 0x4a0 })).toBe('000000010000000000000003.partial.000004A0');
    expect(storedNameOf({ name: '000000010000000000000003', partial: false })).toBe('000000010000000000000003');
    expect(storedNameOf({ name: '00000002.history', partial: false })).toBe('00000002.history');
  });

  it('each later shipment of the same segment under another name, the same WAL under the same one', () => {
    const names = [8, 0x4a0, 0x4a0, 16 << 20].map((received) => storedNameOf({ name: '000000010000000000000003', partial: true, received }));
    expect(new Set(names).size).toBe(3);
  });
});
