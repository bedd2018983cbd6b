/**
 * Project routes under `/api/v1` (SPEC section 2, "Projects"): HTTP shape only; logic lives in
 * ProjectService. The files, jobs and job routes are also served at the earlier orchestrator's
 * paths (`/api/v1/:project_id/files`, …).
 */
import Router from '@koa/router'
import type { Context } from 'koa'
import type { ProjectService } from '../services/projects.js'

/**
 * The raw (still percent-encoded) request path after its first `skip` segments. The router's own
 * params are decoded, which would turn `%2e%2e%2f` into `../` before the path checks see it.
 */
function rawTail(ctx: Context, skip: number): string {
  return ctx.path.split('/').slice(skip + 1).join('/')
}

export function projectRoutes(projects: ProjectService): Router {
  const router = new Router({ prefix: '/api/v1' })

  router.post('/projects', async (ctx) => {
    const abort = new AbortController()
    ctx.res.once('close', () => abort.abort())
    ctx.status = 201
    ctx.body = await projects.create(ctx.request.body, ctx.query as Record<string, string>, abort.signal)
  })

  router.get('/projects', async (ctx) => {
    ctx.body = await projects.list(ctx.query as Record<string, string>)
  })

  router.get('/projects/:id', async (ctx) => {
    ctx.body = await projects.get(ctx.params.id)
  })

  // Each resource at its /projects/:id path and at the earlier orchestrator's /:project_id path;
  // `depth` is how many path segments precede the file path (`api`, `v1`, [`projects`,] id, `files`).
  for (const [base, depth] of [['/projects/:project_id', 5], ['/:project_id', 4]] as const) {
    router.get(`${base}/files`, async (ctx) => {
      ctx.body = await projects.listFiles(ctx.params.project_id)
    })

    router.get(`${base}/files/*path`, async (ctx) => {
      ctx.body = await projects.readFile(ctx.params.project_id, rawTail(ctx, depth))
    })

    router.get(`${base}/jobs`, async (ctx) => {
      ctx.body = await projects.listJobs(ctx.params.project_id)
    })

    router.post(`${base}/jobs`, async (ctx) => {
      ctx.status = 202
      ctx.body = await projects.createJob(ctx.params.project_id, ctx.request.body)
    })

    router.get(`${base}/jobs/:job_id`, async (ctx) => {
      ctx.body = await projects.getJob(ctx.params.project_id, ctx.params.job_id)
    })
  }

  return router
}
