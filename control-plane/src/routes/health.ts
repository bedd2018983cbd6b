/** `GET /healthz` (process up) and `GET /readyz` (Postgres and the runner backend answer); no token. */
import Router from '@koa/router'
import type { Knex } from 'knex'
import type { RunnerDriver } from '../drivers/driver.js'
import { HttpError } from '../http/errors.js'

export function healthRoutes(knex: Knex, driver: RunnerDriver | null): Router {
  const router = new Router()
  router.get('/healthz', (ctx) => {
    ctx.type = 'text/plain'
    ctx.body = 'ok'
  })
  router.get('/readyz', async (ctx) => {
    const checks: Record<string, string> = {}
    try {
      await knex.raw('SELECT 1')
      checks.postgres = 'ok'
    } catch (err) {
      checks.postgres = `error: ${(err as Error).message}`
    }
    if (!driver) checks.runner = 'error: no runner backend'
    else {
      try {
        await driver.ping()
        checks.runner = `ok (${driver.name})`
      } catch (err) {
        checks.runner = `error: ${(err as Error).message}`
      }
    }
    if (Object.values(checks).some((v) => v.startsWith('error'))) {
      throw new HttpError(503, 'not_ready', 'a dependency does not answer', checks)
    }
    ctx.body = { status: 'ready', checks }
  })
  return router
}
