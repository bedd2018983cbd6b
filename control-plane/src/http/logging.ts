/**
 * Structured request logging (pino JSON lines): one line per finished request carrying its
 * request id, and a per-request child logger in `ctx.state.log` so anything a handler logs carries
 * the id too. Only the method, path, route template, status, size and duration are logged — never
 * headers, query strings or bodies, which is where tokens and secrets travel.
 */
import type { Context, Next } from 'koa'
import type { Logger } from 'pino'

/**
 * Paths a pino logger should redact (defence in depth, for a handler that logs an object holding a
 * secret by mistake): a superset of server.ts's list, which the owner of server.ts may adopt.
 */
export const LOG_REDACT_PATHS = [
  '*.token',
  '*.password',
  '*.secret',
  '*.authorization',
  '*["x-dispatch-token"]',
  'req.headers.authorization',
  'req.headers["x-dispatch-token"]',
  'headers.authorization',
  'headers["x-dispatch-token"]',
]

/**
 * Koa middleware logging each request once it is answered (streams: once the connection closes).
 * Must run after `requestId()`. 5xx lines are `error`, 4xx `warn`, the rest `info`.
 */
export function requestLogging(log: Logger) {
  return async (ctx: Context, next: Next) => {
    const started = process.hrtime.bigint()
    const child = log.child({ request_id: ctx.state.requestId })
    ctx.state.log = child
    const line = () => {
      const route = (ctx as Context & { _matchedRoute?: string })._matchedRoute
      const fields = {
        method: ctx.method,
        path: ctx.path,
        route: typeof route === 'string' ? route : undefined,
        status: ctx.status,
        bytes: ctx.response.length,
        duration_ms: Number(process.hrtime.bigint() - started) / 1e6,
      }
      const level = ctx.status >= 500 ? 'error' : ctx.status >= 400 ? 'warn' : 'info'
      child[level](fields, 'request')
    }
    try {
      await next()
    } finally {
      if (ctx.respond === false && !ctx.res.writableEnded) ctx.res.once('close', line)
      else line()
    }
  }
}
