/**
 * Keyset pagination of the list routes (`GET /runs`, `GET /api/v1/projects`): `limit` and
 * `before` (the id of the last item of the previous page) from the query string.
 */
import type { FieldError } from '../http/errors.js'

/**
 * Parses `limit` (integer 1..maxLimit, default 50) and looks `before` up.
 * @param what the item's name in error messages (`run`, `project`).
 * @returns the page and the field errors found (the caller throws them with its own).
 */
export async function parsePage<T>(
  q: { limit?: string; before?: string },
  opts: { maxLimit: number; what: string; lookup: (id: string) => Promise<T | undefined> },
): Promise<{ limit: number; before: T | undefined; errors: FieldError[] }> {
  const errors: FieldError[] = []
  const limit = q.limit === undefined ? 50 : Number(q.limit)
  if (!Number.isInteger(limit) || limit < 1 || limit > opts.maxLimit) {
    errors.push({ field: 'limit', message: `must be an integer from 1 to ${opts.maxLimit}` })
  }
  let before: T | undefined
  if (q.before !== undefined) {
    before = await opts.lookup(q.before)
    if (!before) errors.push({ field: 'before', message: `must be the id of an existing ${opts.what}` })
  }
  return { limit, before, errors }
}

/** The `next_before` of a page: its last id when the page is full, else null (no more pages). */
export function nextBefore(rows: { id: string }[], limit: number): string | null {
  return rows.length === limit ? rows[rows.length - 1].id : null
}
