/**
 * The projects API's SQL, one small named function per statement. A project is a row of
 * `projects`; its jobs are rows of `runs` with `project_id` set (queued through the run queue
 * like any run). A project's status is its latest job's status, read here, never stored.
 */
import type { Knex } from 'knex'
import type { RunRow, RunStatus } from './store.js'

/** A row of `projects`. Timestamps are Date objects (pg's timestamptz parsing). */
export interface ProjectRow {
  id: string
  instruction: string
  workspace: string
  config_toml: string
  model: string | null
  created_at: Date
  updated_at: Date
}

/** A project with what its latest job says (null fields when it has no job). */
export interface ProjectWithLatest extends ProjectRow {
  status: RunStatus | null
  summary: string | null
  latest_job_id: string | null
  job_count: number
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** True for a syntactically valid UUID (anything else is simply an unknown id). */
export function isUuid(id: string): boolean {
  return UUID.test(id)
}

/** Inserts a project row. */
export async function insertProject(
  knex: Knex,
  p: { id: string; instruction: string; workspace: string; config_toml: string; model: string | null },
): Promise<ProjectRow> {
  const rows = await knex<ProjectRow>('projects').insert(p).returning('*')
  return rows[0] as ProjectRow
}

/** Marks a project changed (a job was added). */
export async function touchProject(knex: Knex, id: string): Promise<void> {
  await knex('projects').where({ id }).update({ updated_at: knex.fn.now() })
}

/**
 * Projects with their latest job's status and summary (a LATERAL join over `runs_project_idx`).
 * Keyset-paginated newest first by `(created_at, id)`.
 * @param q.id one project only; q.before the last project of the previous page (exclusive).
 */
export async function selectProjects(
  knex: Knex,
  q: { id?: string; limit: number; before?: ProjectRow },
): Promise<ProjectWithLatest[]> {
  const where: string[] = []
  const bindings: Knex.Value[] = []
  if (q.id !== undefined) {
    where.push('p.id = ?')
    bindings.push(q.id)
  }
  if (q.before) {
    where.push('(p.created_at, p.id) < (?, ?)')
    bindings.push(q.before.created_at, q.before.id)
  }
  bindings.push(q.limit)
  const res = await knex.raw<{ rows: ProjectWithLatest[] }>(
    `SELECT p.*, latest.status, latest.summary, latest.id AS latest_job_id,
            (SELECT count(*)::int FROM runs c WHERE c.project_id = p.id) AS job_count
       FROM projects p
       LEFT JOIN LATERAL (
         SELECT r.id, r.status, r.summary FROM runs r
          WHERE r.project_id = p.id
          ORDER BY r.queued_at DESC, r.id DESC
          LIMIT 1
       ) latest ON true
      ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY p.created_at DESC, p.id DESC
      LIMIT ?`,
    bindings,
  )
  return res.rows
}

/** One project row by id, or undefined (non-UUID ids are unknown). */
export async function getProject(knex: Knex, id: string): Promise<ProjectRow | undefined> {
  if (!isUuid(id)) return undefined
  return await knex<ProjectRow>('projects').where({ id }).first()
}

/** The jobs (runs) of a project, oldest first. */
export async function listProjectJobs(knex: Knex, projectId: string): Promise<RunRow[]> {
  return await knex<RunRow>('runs')
    .where({ project_id: projectId })
    .orderBy([
      { column: 'queued_at', order: 'asc' },
      { column: 'id', order: 'asc' },
    ])
}

/** One job of a project, or undefined (also when the run belongs to another project or none). */
export async function getProjectJob(knex: Knex, projectId: string, jobId: string): Promise<RunRow | undefined> {
  if (!isUuid(projectId) || !isUuid(jobId)) return undefined
  return await knex<RunRow>('runs').where({ id: jobId, project_id: projectId }).first()
}

/**
 * The Codex thread of the project's latest job, queued before `beforeJob`, that has one:
 * what an edit job resumes so the agent keeps the project's context.
 */
export async function latestProjectThread(knex: Knex, projectId: string, beforeJob: RunRow): Promise<string | null> {
  const row = await knex<RunRow>('runs')
    .where({ project_id: projectId })
    .whereNotNull('thread_id')
    .whereRaw('(queued_at, id) < (?, ?)', [beforeJob.queued_at, beforeJob.id])
    .orderBy([
      { column: 'queued_at', order: 'desc' },
      { column: 'id', order: 'desc' },
    ])
    .first('thread_id')
  return row?.thread_id ?? null
}

/** The project's latest ended job queued before `beforeJob`, or undefined. */
export async function previousEndedJob(knex: Knex, projectId: string, beforeJob: RunRow): Promise<RunRow | undefined> {
  return await knex<RunRow>('runs')
    .where({ project_id: projectId })
    .whereIn('status', ['succeeded', 'failed', 'canceled'])
    .whereRaw('(queued_at, id) < (?, ?)', [beforeJob.queued_at, beforeJob.id])
    .orderBy([
      { column: 'queued_at', order: 'desc' },
      { column: 'id', order: 'desc' },
    ])
    .first()
}

/** Records the conversation a claimed job resumes (decided at claim time), in its request. */
export async function setJobConversation(knex: Knex, jobId: string, conversationId: string): Promise<void> {
  await knex('runs')
    .where({ id: jobId })
    .update({ request: knex.raw("jsonb_set(request, '{conversation_id}', to_jsonb(?::text))", [conversationId]) })
}

/** Stores a job's `.codex/result.json` once; a later capture never overwrites it. */
export async function setProjectResult(knex: Knex, jobId: string, result: Record<string, unknown>): Promise<boolean> {
  const n = await knex('runs').where({ id: jobId }).whereNull('project_result').update({ project_result: JSON.stringify(result) })
  return n > 0
}
