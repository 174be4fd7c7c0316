import { parseToc } from './pg-toc.js';

const LISTING = `;
; Archive created at 2026-11-26 10:25:27 UTC
;     dbname: vtoc_test
;
; Selected TOC Entries:
;
6; 2615 29958 SCHEMA - s2 postgres
216; 1259 29951 TABLE public orders postgres
218; 1259 29963 MATERIALIZED VIEW public mv postgres
215; 1259 29948 TABLE public my table postgres
217; 1259 29959 TABLE s2 t 
3358; 2613 29962 BLOB - 29962 postgres
3359; 2613 29963 BLOB - 29963 postgres
3354; 0 29948 TABLE DATA public my table postgres
3355; 0 29951 TABLE DATA public orders postgres
3360; 0 0 BLOBS - BLOBS 
3210; 2606 29957 CONSTRAINT public orders orders_pkey postgres
3357; 0 29963 MATERIALIZED VIEW DATA public mv postgres
`;

describe('parseToc', () => {
  it('lists tables (names with spaces, an empty owner), tables with data and large objects', () => {
    const toc = parseToc(LISTING);
    expect(toc.tables).toEqual([
      { schema: 'public', name: 'orders' },
      { schema: 'public', name: 'my table' },
      { schema: 's2', name: 't' },
    ]);
    expect(toc.tablesWithData).toEqual([
      { schema: 'public', name: 'my table' },
      { schema: 'public', name: 'orders' },
    ]);
    expect(toc.largeObjects).toBe(2);
    expect(toc.entries.find((e) => e.desc === 'MATERIALIZED VIEW DATA')).toMatchObject({ namespace: 'public', tag: 'mv', owner: 'postgres' });
  });

  it('does not count large objects from a format that groups them (BLOB METADATA)', () => {
    expect(parseToc('3358; 2613 29962 BLOB METADATA - 29962..29970 postgres\n').largeObjects).toBeNull();
  });
});
