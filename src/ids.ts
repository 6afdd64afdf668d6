/**
 * The one rule for names a person types and a URL or a Redis key may carry: API key ids and
 * plan names. Kept outside the feature folders so the config schema, the key stores, the CLI
 * and the usage report all read the same rule.
 */
export const ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

/** The rule in words, for error messages. */
export const ID_RULE = 'letters, digits, _ . - (1 to 64)';

export function isValidId(id: string): boolean {
  return ID_PATTERN.test(id);
}
