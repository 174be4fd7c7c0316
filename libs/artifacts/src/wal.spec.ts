import { artifactPath, walArtifactKey, walFileFacts } from './artifact.js';

describe('WAL archive names', () => {
  it('reads timeline and LSN range from a segment name', () => {
    expect(walFileFacts('000000010000000000000003')).toEqual({ kind: 'segment', timeline: 1, startLsn: '0/3000000', endLsn: '0/4000000' });
    expect(walFileFacts('0000000200000001000000FF')).toEqual({ kind: 'segment', timeline: 2, startLsn: '1/FF000000', endLsn: '2/0' });
  });

  it('recognises timeline history files and refuses anything else', () => {
    expect(walFileFacts('00000002.history')).toMatchObject({ kind: 'history', timeline: 2 });
    expect(() => walFileFacts('000000010000000000000003.partial')).toThrow('is not a WAL segment');
  });

  it('stores each file under <resource>/wal/<timeline>/<name>.zst[.age]', () => {
    expect(artifactPath(walArtifactKey('orders-db', '000000010000000000000003', false))).toBe('orders-db/wal/00000001/000000010000000000000003.zst');
    expect(artifactPath(walArtifactKey('orders-db', '00000002.history', true))).toBe('orders-db/wal/00000002/00000002.history.zst.age');
  });
});
