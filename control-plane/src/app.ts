/**
 * The Koa application factory: builds the HTTP surface from its dependencies, so the server and
 * the tests build the same app. Reads like a table of contents; each middleware has one job.
 */
import Koa from 'koa'
import { bodyParser } from '@koa/bodyparser'
import type { Knex } from 'knex'
import type { Logger } from 'pino'
import { HttpError, errorEnvelope } from './http/errors.js'
import { requestId } from './http/request-id.js'
import { requireToken } from './http/auth.js'
import { healthRoutes } from './routes/health.js'
import { runRoutes } from './routes/runs.js'
import { uiRoutes } from './routes/ui.js'
import { openApiRoutes } from './routes/openapi.js'
import { requestLogging } from './http/logging.js'
import { metricsRoutes, type Metrics } from './metrics.js'
import { projectRoutes } from './routes/projects.js'
import type { ProjectService } from './services/projects.js'
import type { RunService } from './services/runs.js'
import type { RunnerDriver } from './drivers/driver.js'
import type { DataLayout } from './drivers/layout.js'

export interface AppDeps {
  knex: Knex
  log: Logger
  token: string
  bodyLimitBytes: number
  runs: RunService
  projects: ProjectService
  layout: DataLayout
  driver: RunnerDriver | null
  metrics: Metrics
  /** Run timeout default and maximum in seconds (the dispatch validator's limits, for /openapi.json). */
  runLimits: { timeoutDefaultS: number; timeoutMaxS: number }
}

export function createApp(deps: AppDeps): Koa {
  const app = new Koa()
  app.proxy = true
  const health = healthRoutes(deps.knex, deps.driver)
  const api = runRoutes(deps.runs, deps.layout)
  const projectApi = projectRoutes(deps.projects)

  app.use(requestId())
  app.use(requestLogging(deps.log))
  app.use(deps.metrics.httpMiddleware())
  app.use(errorEnvelope(deps.log))
  app.use(health.routes())
  app.use(uiRoutes().routes())
  app.use(openApiRoutes(deps.runLimits).routes())
  app.use(requireToken(deps.token))
  app.use(
    bodyParser({
      enableTypes: ['json'],
      jsonLimit: deps.bodyLimitBytes,
      encoding: 'utf-8',
      onError: (err) => {
        const status = (err as { status?: number }).status
        if (status === 413) throw new HttpError(413, 'body_too_large', `request body is larger than ${deps.bodyLimitBytes} bytes`)
        throw new HttpError(400, 'invalid_json', 'request body is not valid JSON')
      },
    }),
  )
  app.use(api.routes())
  app.use(api.allowedMethods())
  app.use(metricsRoutes(deps.metrics).routes())
  app.use(projectApi.routes())
  app.use(projectApi.allowedMethods())
  return app
}
