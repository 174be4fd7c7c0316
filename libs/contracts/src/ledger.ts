/**
 * `@continuity/contracts/ledger`: how the audit ledger proves what it holds, as pure code shared by
 * the audit service (which builds the log, signs heads and serves proofs) and every reader that
 * checks its answers against keys it pinned (`continuity-audit verify`, a restore's `--ledger-key`).
 * See docs/decisions/0043-restore-verifies-the-ledgers-answer.md.
 */
export * from './ledger/merkle.js';
export * from './ledger/leaf.js';
export * from './ledger/tree-head.js';
export * from './ledger/key-history.js';
export * from './ledger/answer-proof.js';
