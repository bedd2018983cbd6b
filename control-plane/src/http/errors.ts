/**
 * HTTP errors and the one place they become responses. Every error body has the envelope
 * `{"error": {"code", "message", "details"}}` (SPEC section 2); unexpected errors are logged and
 * answered as 500 without internals.
 */
import type { Context, Next } from 'koa'
import type { Logger } from 'pino'

/** An error meant for the client: status, machine-readable code, message, optional details. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message)
    this.name = 'HttpError'
  }
}

/** A field-level validation problem. */
export interface FieldError {
  field: string
  message: string
}

/** 400 naming each bad field. */
export function validationError(errors: FieldError[]): HttpError {
  const fields = [...new Set(errors.map((e) => e.field))]
  return new HttpError(400, 'invalid_request', `invalid request: ${fields.join(', ')}`, { fields: errors })
}

export function notFound(what: string, id: string): HttpError {
  return new HttpError(404, 'not_found', `${what} ${id} not found`)
}

/** Koa middleware turning thrown errors into the JSON envelope. */
export function errorEnvelope(log: Logger) {
  return async (ctx: Context, next: Next) => {
    try {
      await next()
      if (ctx.status === 404 && ctx.body === undefined) {
        throw new HttpError(404, 'not_found', `no route for ${ctx.method} ${ctx.path}`)
      }
    } catch (err) {
      const e = err as { status?: number; expose?: boolean; type?: string; message?: string }
      let httpErr: HttpError
      if (err instanceof HttpError) httpErr = err
      else if (e.status === 413) httpErr = new HttpError(413, 'body_too_large', 'request body is larger than the limit')
      else if (e.status === 415) httpErr = new HttpError(415, 'unsupported_media_type', e.message ?? 'unsupported media type')
      else if (e.status && e.status >= 400 && e.status < 500 && e.expose) {
        const code = e.type === 'entity.parse.failed' ? 'invalid_json' : 'bad_request'
        httpErr = new HttpError(e.status, code, e.type === 'entity.parse.failed' ? 'request body is not valid JSON' : (e.message ?? 'bad request'))
      } else {
        log.error({ err, request_id: ctx.state.requestId }, 'unhandled error')
        httpErr = new HttpError(500, 'internal', 'internal server error')
      }
      ctx.status = httpErr.status
      ctx.type = 'application/json'
      ctx.body = { error: { code: httpErr.code, message: httpErr.message, details: httpErr.details ?? null } }
    }
  }
}
