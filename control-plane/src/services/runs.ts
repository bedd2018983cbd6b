/**
 * Run logic behind the HTTP routes: dispatch (with idempotency), records, listing, cancel, and
 * the offset windows over a run's log, events and Codex rollout.
 */
import crypto from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'
import type { Knex } from 'knex'
import { HttpError, notFound, validationError } from '../http/errors.js'
import type { DataLayout } from '../drivers/layout.js'
import type { Scheduler } from '../queue/scheduler.js'
import {
  FINAL_STATUSES,
  cancelQueuedRun,
  getRun,
  RunInserter,
  listRuns,
  setThread,
  type NewRun,
  type RunRow,
  type RunStatus,
} from '../queue/store.js'
import { parseDispatchBody } from './dispatch-request.js'
import { nextBefore, parsePage } from './paging.js'
import { readEventWindow, readLogWindow, type EventWindow, type LogWindow } from './log-window.js'

export interface RunServiceOptions {
  knex: Knex
  layout: DataLayout
  /** Null when no runner backend is available (dispatch answers 503). */
  scheduler: Scheduler | null
  /** Why there is no runner backend, for the 503 message. */
  unavailableReason?: string
  timeoutDefaultS: number
  timeoutMaxS: number
  /** Cap on `max_bytes`, in bytes. */
  readMaxBytes: number
}

/** The public view of a run: what `GET /runs/:id/record` returns. */
export interface RunRecord {
  run_id: string
  status: RunStatus
  state_key: string
  queued_at: string
  started_at: string | null
  finished_at: string | null
  request: Record<string, unknown>
  container_id: string | null
  exit_code: number | null
  reason: string | null
  message: string | null
  thread_id: string | null
  rollout_path: string | null
  usage: RunRow['usage']
  summary: string | null
  pre_commands: RunRow['pre_commands']
  post_commands: RunRow['post_commands']
  git: { branch: string | null; commit: string | null; pushed: boolean } | null
  /** Project the run is a job of, and the job type; null for plain runs. */
  project_id: string | null
  job_type: RunRow['job_type']
  links: Record<string, string>
}

const SECRET_KEY_LINE = /^(\s*["']?[\w.-]*(?:key|token|secret|password|auth)[\w.-]*["']?\s*=\s*).+$/gim

/** Config TOML as shown in records: values of keys that look secret are replaced. */
export function redactConfigToml(toml: string): string {
  return toml.replace(SECRET_KEY_LINE, '$1"[redacted]"')
}

const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null)

/** Links a client follows from a run. */
export function runLinks(id: string): Record<string, string> {
  return {
    record: `/runs/${id}/record`,
    log: `/runs/${id}/log`,
    events: `/runs/${id}/events`,
    rollout: `/runs/${id}/rollout`,
    stream: `/runs/${id}/stream`,
    cancel: `/runs/${id}/cancel`,
  }
}

/** Builds the public record of a run row. */
export function toRecord(row: RunRow): RunRecord {
  const r = row.request
  return {
    run_id: row.id,
    status: row.status,
    state_key: row.state_key,
    queued_at: iso(row.queued_at)!,
    started_at: iso(row.started_at),
    finished_at: iso(row.finished_at),
    request: {
      prompt: row.prompt,
      config_toml: redactConfigToml(row.config_toml),
      state_key: row.state_key,
      ...r,
      timeout_s: row.timeout_s,
    },
    container_id: row.container_id,
    exit_code: row.exit_code,
    reason: row.reason,
    message: row.message,
    thread_id: row.thread_id,
    rollout_path: row.rollout_path,
    usage: row.usage,
    summary: row.summary,
    pre_commands: row.pre_commands,
    post_commands: row.post_commands,
    git: r.git_branch
      ? { branch: r.git_branch, commit: row.git?.commit ?? null, pushed: row.git?.pushed ?? false }
      : null,
    project_id: row.project_id ?? null,
    job_type: row.job_type ?? null,
    links: runLinks(row.id),
  }
}

export class RunService {
  private readonly inserter: RunInserter

  constructor(private readonly opts: RunServiceOptions) {
    this.inserter = new RunInserter(opts.knex)
  }

  /**
   * Validates and queues a run.
   * @param idempotencyKey `Idempotency-Key` header; a repeat with the same body returns the first run.
   * @throws HttpError 400 for invalid bodies, 409 when an idempotency key is reused with another
   *   body, 503 when no runner backend is available.
   */
  async dispatch(body: unknown, idempotencyKey: string | undefined): Promise<{ run: RunRow; created: boolean }> {
    const fields = parseDispatchBody(body, { timeoutDefaultS: this.opts.timeoutDefaultS, timeoutMaxS: this.opts.timeoutMaxS })
    if (!this.opts.scheduler) {
      throw new HttpError(503, 'runner_backend_unavailable', this.opts.unavailableReason ?? 'no runner backend is available')
    }
    return await this.enqueue(fields, idempotencyKey)
  }

  /** Queues already-validated run fields (also used by the projects service). */
  async enqueue(
    fields: Omit<NewRun, 'idempotency_key' | 'request_hash'>,
    idempotencyKey: string | undefined,
  ): Promise<{ run: RunRow; created: boolean }> {
    if (idempotencyKey !== undefined && (idempotencyKey.length < 1 || idempotencyKey.length > 255)) {
      throw validationError([{ field: 'Idempotency-Key', message: 'must be 1-255 characters' }])
    }
    // Only a keyed request can be repeated, so only it needs the hash that detects a changed body.
    const hash = idempotencyKey === undefined ? null : crypto.createHash('sha256').update(JSON.stringify(fields)).digest('hex')
    const res = await this.inserter.insert({ ...fields, idempotency_key: idempotencyKey ?? null, request_hash: hash })
    if (!res.created && res.run.request_hash !== hash) {
      throw new HttpError(409, 'idempotency_key_reused', 'this Idempotency-Key was used with a different request', {
        run_id: res.run.id,
      })
    }
    return res
  }

  /** @throws HttpError 404 for unknown ids. */
  async get(id: string): Promise<RunRow> {
    const row = await getRun(this.opts.knex, id)
    if (!row) throw notFound('run', id)
    return row
  }

  /**
   * Recent runs, newest first.
   * @throws HttpError 400 for a bad status/limit/before.
   */
  async list(q: { status?: string; limit?: string; before?: string }): Promise<{ runs: RunRecord[]; next_before: string | null }> {
    const statuses: RunStatus[] = ['queued', 'running', 'succeeded', 'failed', 'canceled']
    const errors = []
    if (q.status !== undefined && !statuses.includes(q.status as RunStatus)) {
      errors.push({ field: 'status', message: `must be one of ${statuses.join(', ')}` })
    }
    const page = await parsePage(q, { maxLimit: 500, what: 'run', lookup: (id) => getRun(this.opts.knex, id) })
    errors.push(...page.errors)
    if (errors.length) throw validationError(errors)
    const rows = await listRuns(this.opts.knex, { status: q.status as RunStatus | undefined, limit: page.limit, before: page.before })
    return { runs: rows.map(toRecord), next_before: nextBefore(rows, page.limit) }
  }

  /**
   * Cancels a queued run at once, or stops a running one (it ends `canceled` once its runner has
   * stopped; the log is kept).
   * @throws HttpError 404 unknown, 409 already finished, 503 when no backend can stop it.
   */
  async cancel(id: string): Promise<RunRow> {
    const row = await this.get(id)
    if (row.status === 'queued') {
      const canceled = await cancelQueuedRun(this.opts.knex, id)
      if (canceled) return canceled
    }
    const current = await this.get(id)
    if (FINAL_STATUSES.includes(current.status)) {
      throw new HttpError(409, 'run_finished', `run ${id} already ended with status ${current.status}`)
    }
    if (!this.opts.scheduler) throw new HttpError(503, 'runner_backend_unavailable', 'no runner backend can stop the run')
    await this.opts.scheduler.cancel(id)
    return await this.get(id)
  }

  private window(q: { offset?: string; max_bytes?: string }, defaultMax: number): { offset: number; maxBytes: number } {
    const errors = []
    const offset = q.offset === undefined ? 0 : Number(q.offset)
    if (!Number.isSafeInteger(offset) || offset < 0) errors.push({ field: 'offset', message: 'must be a non-negative integer' })
    const max = q.max_bytes === undefined ? defaultMax : Number(q.max_bytes)
    if (!Number.isSafeInteger(max) || max < 1) errors.push({ field: 'max_bytes', message: 'must be a positive integer' })
    if (errors.length) throw validationError(errors)
    return { offset, maxBytes: Math.min(max, this.opts.readMaxBytes) }
  }

  /** `GET /runs/:id/log`. */
  async log(id: string, q: { offset?: string; max_bytes?: string }): Promise<LogWindow> {
    const { offset, maxBytes } = this.window(q, 20_000)
    const row = await this.get(id)
    return await readLogWindow(this.opts.layout.runLog(id), offset, maxBytes, FINAL_STATUSES.includes(row.status))
  }

  /** `GET /runs/:id/events`. */
  async events(id: string, q: { offset?: string; max_bytes?: string }): Promise<EventWindow> {
    const { offset, maxBytes } = this.window(q, 20_000)
    const row = await this.get(id)
    return await readEventWindow(
      this.opts.layout.runLog(id),
      offset,
      maxBytes,
      this.opts.readMaxBytes,
      FINAL_STATUSES.includes(row.status),
    )
  }

  /**
   * `GET /runs/:id/rollout`: the Codex rollout JSONL of the run's thread.
   * @throws HttpError 404 until the run has emitted `thread.started` (code `rollout_not_available`).
   */
  async rollout(
    id: string,
    q: { offset?: string; max_bytes?: string },
  ): Promise<LogWindow & { thread_id: string; rollout_path: string }> {
    const { offset, maxBytes } = this.window(q, 20_000)
    const row = await this.get(id)
    const ended = FINAL_STATUSES.includes(row.status)
    let threadId = row.thread_id
    let rolloutPath = row.rollout_path
    if (!threadId) threadId = await findThreadId(this.opts.layout.runLog(id))
    if (threadId && !rolloutPath) {
      rolloutPath = await findRollout(this.opts.layout.codexHome(row.state_key), threadId)
      if (rolloutPath) await setThread(this.opts.knex, id, threadId, rolloutPath)
    }
    if (!threadId || !rolloutPath) {
      throw new HttpError(404, 'rollout_not_available', `run ${id} has no Codex rollout yet (no thread.started)`)
    }
    const file = path.join(this.opts.layout.codexHome(row.state_key), rolloutPath)
    const win = await readLogWindow(file, offset, maxBytes, ended)
    return { ...win, thread_id: threadId, rollout_path: rolloutPath }
  }
}

/** The thread id of the first `thread.started` event in the head of a run log (Codex `--json` JSONL). */
async function findThreadId(logFile: string): Promise<string | null> {
  const head = await readLogWindow(logFile, 0, 256 * 1024, false)
  for (const line of head.content.split('\n')) {
    if (!line.includes('thread.started')) continue
    try {
      const ev = JSON.parse(line) as { type?: string; thread_id?: string }
      if (ev.type === 'thread.started' && ev.thread_id) return ev.thread_id
    } catch {
      // a partial line at the window end
    }
  }
  return null
}

/**
 * Finds `sessions/YYYY/MM/DD/rollout-<time>-<thread_id>.jsonl` under a Codex home.
 * @returns the path relative to the Codex home, or null.
 */
export async function findRollout(codexHome: string, threadId: string): Promise<string | null> {
  const sessions = path.join(codexHome, 'sessions')
  let entries: string[]
  try {
    entries = (await fs.readdir(sessions, { recursive: true })).map(String)
  } catch {
    return null
  }
  const hit = entries.find((e) => path.basename(e).startsWith('rollout-') && e.endsWith(`-${threadId}.jsonl`))
  return hit ? path.posix.join('sessions', hit.split(path.sep).join('/')) : null
}
