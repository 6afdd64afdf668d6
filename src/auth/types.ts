/** A caller's identity once its X-API-Key is accepted. Never holds the key value. */
export interface KeyRecord {
  id: string;
  plan?: string;
}

/** Looks a presented key up by the SHA-256 hex of its value (keys are hashed at rest). */
export interface KeyLookup {
  findByHash(sha256hex: string): Promise<KeyRecord | undefined>;
}
