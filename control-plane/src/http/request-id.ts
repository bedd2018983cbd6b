/** `X-Request-Id`: echoed from the request when it is a sane token, else a new UUID; on every response. */
import crypto from 'node:crypto'
import type { Context, Next } from 'koa'

const SANE = /^[A-Za-z0-9._:-]{1,128}$/

export function requestId() {
  return async (ctx: Context, next: Next) => {
    const incoming = ctx.get('X-Request-Id')
    const id = SANE.test(incoming) ? incoming : crypto.randomUUID()
    ctx.state.requestId = id
    ctx.set('X-Request-Id', id)
    await next()
  }
}
