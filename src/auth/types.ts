/** A caller's identity once its X-API-Key is accepted. Never holds the key value. */
export interface KeyRecord {
  id: string;
  plan?: string;
}

/**
 * Looks a presented key up by the SHA-256 hex of its value (keys are hashed at rest). A look-up
 * that knows the answer at once may return it instead of a promise (the configured keys do).
 */
export interface KeyLookup {
  findByHash(sha256hex: string): KeyRecord | undefined | Promise<KeyRecord | undefined>;
}

/** A key as a signed URL names it (`ixkey=`): its plan and the signing secrets that are live now. */
export interface SigningKey extends KeyRecord {
  secrets: string[];
}

/** Finds a key's live signing secrets by its id (one read per request; no search over keys). */
export interface SecretLookup {
  findSigningKey(id: string): Promise<SigningKey | undefined>;
}
