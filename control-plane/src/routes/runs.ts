/**
 * Run routes: HTTP shape only (status codes, content negotiation, headers); logic lives in
 * RunService. SPEC section 2, "Dispatch" and "Polling and live status".
 */
import Router from '@koa/router'
import { createSession } from 'better-sse'
import { FINAL_STATUSES } from '../queue/store.js'
import { runLinks, toRecord, type RunService } from '../services/runs.js'
import { followRunLog } from '../services/run-stream.js'
import type { DataLayout } from '../drivers/layout.js'

/** Heartbeat interval of the SSE stream, ms (a comment line keeps proxies from timing out). */
const SSE_KEEPALIVE_MS = 15_000

export function runRoutes(runs: RunService, layout: DataLayout): Router {
  const router = new Router()

  router.post('/dispatch', async (ctx) => {
    const key = ctx.get('Idempotency-Key') || undefined
    const { run } = await runs.dispatch(ctx.request.body, key)
    // The scheduler (the host's runner) is always up while the service is; it claims the run.
    const runner = run.container_id ?? 'already_running'
    ctx.status = 202
    if (ctx.accepts('application/json', 'text/plain') === 'text/plain') {
      ctx.type = 'text/plain'
      ctx.body = `queued:${run.id}:runner:${runner}\n`
      return
    }
    ctx.body = { run_id: run.id, status: run.status, runner, links: runLinks(run.id) }
  })

  router.get('/runs', async (ctx) => {
    ctx.body = await runs.list(ctx.query as Record<string, string>)
  })

  router.get('/runs/:id/record', async (ctx) => {
    ctx.body = toRecord(await runs.get(ctx.params.id))
  })

  router.get('/runs/:id/log', async (ctx) => {
    ctx.body = await runs.log(ctx.params.id, ctx.query as Record<string, string>)
  })

  router.get('/runs/:id/events', async (ctx) => {
    ctx.body = await runs.events(ctx.params.id, ctx.query as Record<string, string>)
  })

  router.get('/runs/:id/rollout', async (ctx) => {
    ctx.body = await runs.rollout(ctx.params.id, ctx.query as Record<string, string>)
  })

  router.post('/runs/:id/cancel', async (ctx) => {
    const row = await runs.cancel(ctx.params.id)
    ctx.status = FINAL_STATUSES.includes(row.status) ? 200 : 202
    ctx.body = toRecord(row)
  })

  /**
   * Server-Sent Events: `event: event` (a JSON line) or `event: log` (any other line), each with
   * `id: <byte offset after the line>`; resume with `Last-Event-ID` or `?offset=`. A final
   * `event: end` carries `{status, reason}`.
   */
  router.get('/runs/:id/stream', async (ctx) => {
    const id = ctx.params.id
    await runs.get(id)
    const resumeFrom = Number(ctx.get('Last-Event-ID') || ctx.query.offset || 0)
    const start = Number.isSafeInteger(resumeFrom) && resumeFrom >= 0 ? resumeFrom : 0
    // Koa's default status is 404 until a body is set, and better-sse answers with res.statusCode.
    ctx.status = 200
    ctx.respond = false
    ctx.res.setHeader('X-Request-Id', String(ctx.state.requestId))
    const session = await createSession(ctx.req, ctx.res, {
      keepAlive: SSE_KEEPALIVE_MS,
      trustClientEventId: false,
      serializer: (data) => (typeof data === 'string' ? data : JSON.stringify(data)),
      headers: { 'X-Accel-Buffering': 'no', 'Cache-Control': 'no-cache' },
    })
    const abort = new AbortController()
    session.on('disconnected', () => abort.abort())
    const source = {
      logFile: layout.runLog(id),
      read: (offset: number) => runs.events(id, { offset: String(offset) }),
      status: async () => {
        const row = await runs.get(id)
        return { status: row.status, reason: row.reason, ended: FINAL_STATUSES.includes(row.status) }
      },
    }
    try {
      for await (const item of followRunLog(source, start, abort.signal)) {
        if (!session.isConnected) break
        if (item.kind === 'line') session.push(item.line, item.json === undefined ? 'log' : 'event', String(item.nextOffset))
        else session.push({ status: item.status, reason: item.reason }, 'end', String(item.nextOffset))
      }
    } finally {
      if (!ctx.res.writableEnded) ctx.res.end()
    }
  })

  return router
}
