/** JetStream's `StreamWrongLastSequence`: a KV create or update lost a compare-and-set. */
export const KV_CAS_CONFLICT = 10071;

export const isCasConflict = (error: unknown): boolean => (error as { code?: unknown })?.code === KV_CAS_CONFLICT;

export const encodeJson = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value));

export const decodeJson = <T>(bytes: Uint8Array): T | null => {
  try {
    return JSON.parse(new TextDecoder().decode(bytes)) as T;
  } catch {
    return null;
  }
};
