/** DI tokens of the verifier's own providers. */
export const VERIFIER_CONFIG = Symbol('VERIFIER_CONFIG');
export const STORE = Symbol('STORE');
export const LIVENESS = Symbol('LIVENESS');
export const SCRATCH = Symbol('SCRATCH');
export const READERS = Symbol('READERS');
export const RUNNER = Symbol('RUNNER');
export const WAL_STORE = Symbol('WAL_STORE');
