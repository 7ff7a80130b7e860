/**
 * The discriminated result every normalisation rule returns: a value, or one
 * human-readable message. Rules below the record level return messages without
 * a field path ("must be greater than 0"); `sale.ts` prefixes the path.
 */

export type Ok<T> = { readonly ok: true; readonly value: T };
export type Rejection = { readonly ok: false; readonly error: string };
export type Result<T> = Ok<T> | Rejection;

export function ok<T>(value: T): Ok<T> {
  return { ok: true, value };
}

export function reject(error: string): Rejection {
  return { ok: false, error };
}
