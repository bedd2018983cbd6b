/**
 * Prometheus metrics (prom-client) of one control plane: runs by status and queue depth (read from
 * Postgres at scrape time, so they are right across restarts and several schedulers), claim
 * latency and run duration (observed from the scheduler's run events), and an HTTP request
 * histogram by route template and status. Exposition format:
 * https://prometheus.io/docs/instrumenting/exposition_formats/ (text 0.0.4).
 */
import Router from '@koa/router'
import type { Context, Next } from 'koa'
import type { Knex } from 'knex'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { SchedulerEvent } from './queue/scheduler.js'
import type { RunStatus } from './queue/store.js'

const STATUSES: readonly RunStatus[] = ['queued', 'running', 'succeeded', 'failed', 'canceled']

/** The metrics of one service instance (its own registry, so tests can run several in a process). */
export class Metrics {
  readonly registry = new Registry()
  private readonly claimLatency: Histogram<never>
  private readonly runDuration: Histogram<'status'>
  private readonly runsFinished: Counter<'status' | 'reason'>
  private readonly http: Histogram<'method' | 'route' | 'status'>

  constructor(knex: Knex) {
    const registers = [this.registry]
    collectDefaultMetrics({ register: this.registry, prefix: 'codex_dispatcher_process_' })
    new Gauge({
      name: 'codex_dispatcher_runs',
      help: 'Runs in the database by status.',
      labelNames: ['status'],
      registers,
      async collect() {
        const rows = await knex('runs').select('status').count<{ status: RunStatus; count: string }[]>('* as count').groupBy('status')
        const counts = new Map(rows.map((r) => [r.status, Number(r.count)]))
        for (const status of STATUSES) this.set({ status }, counts.get(status) ?? 0)
      },
    })
    new Gauge({
      name: 'codex_dispatcher_queue_depth',
      help: 'Runs waiting to be claimed (status queued).',
      registers,
      async collect() {
        const row = await knex('runs').where({ status: 'queued' }).count<{ count: string }[]>('* as count').first()
        this.set(Number(row?.count ?? 0))
      },
    })
    this.claimLatency = new Histogram({
      name: 'codex_dispatcher_claim_latency_seconds',
      help: 'Time from a run being queued to a scheduler claiming it, in seconds.',
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15, 60, 300, 1800],
      registers,
    })
    this.runDuration = new Histogram({
      name: 'codex_dispatcher_run_duration_seconds',
      help: 'Wall-clock time of finished runs from start to final status, in seconds, by final status.',
      labelNames: ['status'],
      buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400],
      registers,
    })
    this.runsFinished = new Counter({
      name: 'codex_dispatcher_runs_finished_total',
      help: 'Runs this process saw reach a final status, by status and reason.',
      labelNames: ['status', 'reason'],
      registers,
    })
    this.http = new Histogram({
      name: 'codex_dispatcher_http_request_duration_seconds',
      help: 'HTTP request durations in seconds by method, route template and status (streams: until closed).',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 60, 600],
      registers,
    })
  }

  /** Feeds scheduler events into the run histograms (pass to `Scheduler.subscribe`). */
  readonly onSchedulerEvent = (e: SchedulerEvent): void => {
    const r = e.run
    if (e.type === 'run.started' && r.started_at) {
      this.claimLatency.observe(Math.max(0, (new Date(r.started_at).getTime() - new Date(r.queued_at).getTime()) / 1000))
    }
    if (e.type === 'run.finished') {
      this.runsFinished.inc({ status: r.status, reason: r.reason ?? '' })
      if (r.started_at && r.finished_at) {
        const s = (new Date(r.finished_at).getTime() - new Date(r.started_at).getTime()) / 1000
        this.runDuration.observe({ status: r.status }, Math.max(0, s))
      }
    }
  }

  /**
   * Koa middleware timing every request. The route label is the router's template
   * (`/runs/:id/log`), or `unmatched`, so ids never explode the label set.
   */
  httpMiddleware() {
    return async (ctx: Context, next: Next) => {
      const end = this.http.startTimer()
      const observe = () => {
        const route = (ctx as Context & { _matchedRoute?: string })._matchedRoute
        end({ method: ctx.method, route: typeof route === 'string' ? route : 'unmatched', status: String(ctx.status) })
      }
      try {
        await next()
      } finally {
        // Streams (SSE) respond by hand: time them until the connection closes.
        if (ctx.respond === false && !ctx.res.writableEnded) ctx.res.once('close', observe)
        else observe()
      }
    }
  }

  /** The Prometheus text exposition of every metric. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() }
  }
}

/** `GET /metrics` (behind the token like every data route). */
export function metricsRoutes(metrics: Metrics): Router {
  const router = new Router()
  router.get('/metrics', async (ctx) => {
    const { contentType, body } = await metrics.render()
    ctx.type = contentType
    ctx.body = body
  })
  return router
}
