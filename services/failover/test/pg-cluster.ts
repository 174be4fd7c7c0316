// The PostgreSQL replication harness is shared with other projects' tests and the benchmarks.
export * from '@continuity/runtime/testing';
