// The PostgreSQL replication harness lives in src/testing so the benchmark can use it too
// (`@continuity/failover/testing/pg-cluster.js`); tests import it from here.
export * from '../src/testing/pg-cluster.js';
