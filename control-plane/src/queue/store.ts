/**
 * The run queue's SQL, one small named function per statement (the graphile-worker way).
 * Runs move `queued → running → succeeded | failed | canceled`; every transition is a guarded
 * UPDATE so each run is claimed once and reaches a final status exactly once.
 */
import crypto from 'node:crypto'
import type { Knex } from 'knex'
import type { CommandOutcome, RunMeta, RunUsage } from '../../../runner-image/src/contract.js'

/** Postgres channel the scheduler LISTENs on; a NOTIFY on it means "a run was queued". */
export const QUEUE_CHANNEL = 'codex_dispatcher_queue'

export type RunStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'canceled'
export const FINAL_STATUSES: readonly RunStatus[] = ['succeeded', 'failed', 'canceled']

/**
 * Request fields stored with a run besides prompt and config (already validated): the agent
 * settings as the bundle's meta.json carries them, and the git fields as the client sent them.
 */
export type RunRequest = Pick<RunMeta, 'workdir_rel' | 'model' | 'conversation_id' | 'fork' | 'pre_commands' | 'post_commands'> & {
  git_repo: string | null
  git_branch: string | null
  git_base: string
  git_clone_dir_rel: string
  git_push: boolean
}

/** A row of `runs`. Timestamps are Date objects (pg's timestamptz parsing). */
export interface RunRow {
  id: string
  status: RunStatus
  state_key: string
  prompt: string
  config_toml: string
  request: RunRequest
  timeout_s: number
  idempotency_key: string | null
  request_hash: string | null
  queued_at: Date
  started_at: Date | null
  finished_at: Date | null
  claimed_by: string | null
  container_id: string | null
  exit_code: number | null
  reason: string | null
  message: string | null
  stop_reason: 'canceled' | 'timeout' | null
  stop_requested_at: Date | null
  thread_id: string | null
  rollout_path: string | null
  usage: RunUsage | null
  summary: string | null
  pre_commands: CommandOutcome[] | null
  post_commands: CommandOutcome[] | null
  git: { branch: string; commit: string | null; pushed: boolean } | null
  /** Project the run is a job of (projects API), with its job type; null for plain runs. */
  project_id: string | null
  job_type: 'initial_project' | 'edit' | null
  job_instruction: string | null
  /** The project's `.codex/result.json` as this job left it; null until captured. */
  project_result: Record<string, unknown> | null
}

/**
 * What a new run is made of. The project fields are set for project jobs, in the same INSERT, so
 * no scheduler can claim the run unlinked.
 */
export type NewRun = Pick<RunRow, 'state_key' | 'prompt' | 'config_toml' | 'request' | 'timeout_s' | 'idempotency_key' | 'request_hash'> &
  Partial<Pick<RunRow, 'project_id' | 'job_type' | 'job_instruction'>>

const INSERT_COLUMNS = [
  'id',
  'state_key',
  'prompt',
  'config_toml',
  'request',
  'timeout_s',
  'idempotency_key',
  'request_hash',
  'project_id',
  'job_type',
  'job_instruction',
] as const

/**
 * Inserts queued runs in one statement (one commit) and notifies schedulers in it. Runs whose
 * idempotency key is already used are not inserted; the existing run is returned for them.
 * @returns one `{run, created}` per input, in input order; `created` is false for a repeat.
 * @throws the database error when the statement fails (nothing of the batch is inserted).
 */
export async function insertRuns(knex: Knex, runs: NewRun[]): Promise<{ run: RunRow; created: boolean }[]> {
  const withIds = runs.map((r) => ({ ...r, id: crypto.randomUUID() }))
  const values = withIds.map(() => '(?::uuid, ?, ?, ?, ?::jsonb, ?, ?, ?, ?, ?, ?)').join(', ')
  const bindings = withIds.flatMap((r) => [
    r.id,
    r.state_key,
    r.prompt,
    r.config_toml,
    JSON.stringify(r.request),
    r.timeout_s,
    r.idempotency_key,
    r.request_hash,
    r.project_id ?? null,
    r.job_type ?? null,
    r.job_instruction ?? null,
  ])
  const res = await knex.raw<{ rows: RunRow[] }>(
    `WITH ins AS (
       INSERT INTO runs (${INSERT_COLUMNS.join(', ')})
       VALUES ${values}
       ON CONFLICT (idempotency_key) DO NOTHING
       RETURNING *
     )
     SELECT ins.*, (SELECT pg_notify(?, '')) AS notified FROM ins`,
    [...bindings, QUEUE_CHANNEL],
  )
  const inserted = new Map<string, RunRow>()
  for (const row of res.rows) {
    delete (row as Partial<RunRow> & { notified?: unknown }).notified
    inserted.set(row.id, row)
  }
  const repeatedKeys = withIds.filter((r) => !inserted.has(r.id)).map((r) => r.idempotency_key)
  const existing = new Map<string, RunRow>()
  if (repeatedKeys.length) {
    for (const row of await knex<RunRow>('runs').whereIn('idempotency_key', repeatedKeys as string[])) {
      existing.set(row.idempotency_key!, row)
    }
  }
  return withIds.map((r) => {
    const row = inserted.get(r.id)
    if (row) return { run: row, created: true }
    const prior = r.idempotency_key ? existing.get(r.idempotency_key) : undefined
    if (!prior) throw new Error('idempotency conflict without an existing run')
    return { run: prior, created: false }
  })
}

/** Inserts one queued run; see {@link insertRuns}. */
export async function insertRun(knex: Knex, run: NewRun): Promise<{ run: RunRow; created: boolean }> {
  return (await insertRuns(knex, [run]))[0]
}

/**
 * Group commit for dispatch: concurrent inserts are gathered while the previous statement is in
 * flight and written together, one commit (one WAL flush) per batch instead of one per run. An
 * idle inserter writes a lone run at once, so there is no added latency at low load. If a batch
 * fails, its runs are retried one by one so a single bad run fails alone.
 */
export class RunInserter {
  private pending: { run: NewRun; resolve: (v: { run: RunRow; created: boolean }) => void; reject: (e: unknown) => void }[] = []
  private flushing = false

  /** @param maxBatch most runs in one INSERT. */
  constructor(
    private readonly knex: Knex,
    private readonly maxBatch = 256,
  ) {}

  /** Queues one run for the next batch; resolves when its batch has committed. */
  insert(run: NewRun): Promise<{ run: RunRow; created: boolean }> {
    return new Promise((resolve, reject) => {
      this.pending.push({ run, resolve, reject })
      if (!this.flushing) void this.flush()
    })
  }

  private async flush(): Promise<void> {
    this.flushing = true
    try {
      while (this.pending.length > 0) {
        const batch = this.pending.splice(0, this.maxBatch)
        try {
          const results = await insertRuns(this.knex, batch.map((b) => b.run))
          batch.forEach((b, i) => b.resolve(results[i]))
        } catch (err) {
          if (batch.length === 1) {
            batch[0].reject(err)
            continue
          }
          await Promise.all(batch.map((b) => insertRun(this.knex, b.run).then(b.resolve, b.reject)))
        }
      }
    } finally {
      this.flushing = false
    }
  }
}

/**
 * Claims the oldest queued run whose state key has no running run, marking it running.
 * `FOR UPDATE SKIP LOCKED` lets several schedulers claim concurrently without waiting on each
 * other; the unique index `runs_one_running_per_state` turns a race between two runs of one
 * state key into a unique violation, which is answered here by trying the next candidate.
 * @param claimer id of the claiming scheduler (kept in `claimed_by`).
 * @returns the claimed run, or null when nothing is claimable.
 */
export async function claimNextRun(knex: Knex, claimer: string): Promise<RunRow | null> {
  const skipped: string[] = []
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      const res = await knex.raw<{ rows: RunRow[] }>(
        `UPDATE runs SET status = 'running', started_at = now(), claimed_by = ?
          WHERE id = (
            SELECT r.id FROM runs r
             WHERE r.status = 'queued'
               AND NOT (r.state_key = ANY(?::text[]))
               AND NOT EXISTS (SELECT 1 FROM runs x WHERE x.state_key = r.state_key AND x.status = 'running')
             ORDER BY r.queued_at, r.id
             FOR UPDATE SKIP LOCKED
             LIMIT 1)
          RETURNING *`,
        [claimer, skipped],
      )
      return res.rows[0] ?? null
    } catch (err) {
      const e = err as { code?: string; constraint?: string; detail?: string }
      if (e.code !== '23505' || e.constraint !== 'runs_one_running_per_state') throw err
      const key = /\(state_key\)=\((.*)\)/.exec(e.detail ?? '')?.[1]
      if (key) skipped.push(key)
    }
  }
  return null
}

/** Records the runner (container id or pid) that executes a running run. */
export async function setRunner(knex: Knex, id: string, runnerId: string): Promise<void> {
  await knex('runs').where({ id }).update({ container_id: runnerId })
}

/** Final fields of a run. */
export interface RunOutcome {
  status: 'succeeded' | 'failed' | 'canceled'
  exit_code: number | null
  reason: string | null
  message: string | null
  thread_id?: string | null
  rollout_path?: string | null
  usage?: RunUsage | null
  summary?: string | null
  pre_commands?: CommandOutcome[] | null
  post_commands?: CommandOutcome[] | null
  git?: RunRow['git']
}

/**
 * Moves a running run to its final status. Guarded by `status = 'running'`, so of several
 * finishers (a watcher, a reconcile after restart, a second control plane) exactly one wins.
 * @returns the finished row, or null when the run was not running any more.
 */
export async function finishRun(knex: Knex, id: string, outcome: RunOutcome): Promise<RunRow | null> {
  const jsonb = (v: unknown) => (v === undefined ? undefined : v === null ? null : JSON.stringify(v))
  const patch: Record<string, unknown> = {
    status: outcome.status,
    finished_at: knex.fn.now(),
    exit_code: outcome.exit_code,
    reason: outcome.reason,
    message: outcome.message,
  }
  for (const k of ['thread_id', 'rollout_path', 'summary'] as const) {
    if (outcome[k] !== undefined) patch[k] = outcome[k]
  }
  for (const k of ['usage', 'pre_commands', 'post_commands', 'git'] as const) {
    if (outcome[k] !== undefined) patch[k] = jsonb(outcome[k])
  }
  const rows = await knex<RunRow>('runs').where({ id, status: 'running' }).update(patch).returning('*')
  return (rows[0] as RunRow | undefined) ?? null
}

/** Cancels a run that is still queued. @returns the canceled row, or null if it was not queued. */
export async function cancelQueuedRun(knex: Knex, id: string): Promise<RunRow | null> {
  const rows = await knex<RunRow>('runs')
    .where({ id, status: 'queued' })
    .update({ status: 'canceled', finished_at: knex.fn.now(), reason: 'canceled', message: 'canceled while queued' })
    .returning('*')
  return (rows[0] as RunRow | undefined) ?? null
}

/**
 * Records why a running run is being stopped, before its runner is stopped. The first reason wins.
 * @returns the row, or null when the run is not running.
 */
export async function requestStop(knex: Knex, id: string, reason: 'canceled' | 'timeout'): Promise<RunRow | null> {
  const rows = await knex<RunRow>('runs')
    .where({ id, status: 'running' })
    .update({
      stop_reason: knex.raw('COALESCE(stop_reason, ?)', [reason]),
      stop_requested_at: knex.raw('COALESCE(stop_requested_at, now())'),
    })
    .returning('*')
  return (rows[0] as RunRow | undefined) ?? null
}

/** One run by id, or undefined. Ids that are not UUIDs are simply unknown. */
export async function getRun(knex: Knex, id: string): Promise<RunRow | undefined> {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)) return undefined
  return await knex<RunRow>('runs').where({ id }).first()
}

/** Runs currently marked running (for reconciliation after a restart). */
export async function listRunningRuns(knex: Knex): Promise<RunRow[]> {
  return await knex<RunRow>('runs').where({ status: 'running' }).orderBy('started_at')
}

/**
 * Recent runs, newest first, keyset-paginated by `(queued_at, id)`.
 * @param q.before id of the last run of the previous page (exclusive).
 */
export async function listRuns(
  knex: Knex,
  q: { status?: RunStatus; limit: number; before?: RunRow },
): Promise<RunRow[]> {
  const query = knex<RunRow>('runs').orderBy([
    { column: 'queued_at', order: 'desc' },
    { column: 'id', order: 'desc' },
  ])
  if (q.status) query.where({ status: q.status })
  if (q.before) {
    query.whereRaw('(queued_at, id) < (?, ?)', [q.before.queued_at, q.before.id])
  }
  return await query.limit(q.limit)
}

/** Caches what the run's log says about its Codex thread. */
export async function setThread(knex: Knex, id: string, threadId: string, rolloutPath: string | null): Promise<void> {
  await knex('runs').where({ id }).update({ thread_id: threadId, rollout_path: rolloutPath })
}
