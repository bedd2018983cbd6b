/**
 * Token authentication: `X-Dispatch-Token: <token>` or `Authorization: Bearer <token>`.
 * Compared in constant time (over SHA-256 digests, so lengths do not leak either); never logged.
 */
import crypto from 'node:crypto'
import type { Context, Next } from 'koa'
import { HttpError } from './errors.js'

const digest = (s: string) => crypto.createHash('sha256').update(s, 'utf8').digest()

/** Extracts the presented token from a request's headers, or undefined. */
export function presentedToken(headers: { get(name: string): string }): string | undefined {
  const header = headers.get('X-Dispatch-Token')
  if (header) return header
  const m = /^Bearer\s+(.+)$/i.exec(headers.get('Authorization'))
  return m?.[1]?.trim()
}

/** Middleware requiring the dispatch token; 401 with the error envelope otherwise. */
export function requireToken(token: string) {
  const expected = digest(token)
  return async (ctx: Context, next: Next) => {
    const presented = presentedToken(ctx)
    if (presented === undefined) throw new HttpError(401, 'unauthorized', 'missing token (X-Dispatch-Token or Authorization: Bearer)')
    if (!crypto.timingSafeEqual(digest(presented), expected)) throw new HttpError(401, 'unauthorized', 'invalid token')
    await next()
  }
}
