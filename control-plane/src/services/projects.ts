/**
 * Projects (SPEC section 2, "Projects"): a natural-language instruction becomes a workspace the
 * agent writes, follow-up edit jobs change it, and its files can be listed and read.
 *
 * A project job is a run, queued through {@link RunService.enqueue} (same queue, runner, logs and
 * polling routes), with:
 *   - `state_key` = the project id: two jobs of one project never run at once (a second edit
 *     waits its turn) and the Codex home (sessions, threads) is per project;
 *   - the workspace `DATA_DIR/projects/<id>/`, bound by the scheduler's `projectOf` hook;
 *   - for edits, `conversation_id` = the thread of the project's latest job that has one,
 *     decided when the job is claimed (the previous job may still be running when it is queued).
 * The runner writes `.codex/result.json` after each job; it is copied into the job's row
 * (`runs.project_result`) because the next job overwrites the file.
 */
import crypto from 'node:crypto'
import type { Knex } from 'knex'
import type { Logger } from 'pino'
import { z } from 'zod'
import { parse as parseToml } from 'smol-toml'
import type { RunProjectSpec } from '../../../runner-image/src/contract.js'
import { HttpError, notFound, validationError } from '../http/errors.js'
import type { DataLayout } from '../drivers/layout.js'
import type { ProjectBinding, Scheduler } from '../queue/scheduler.js'
import { FINAL_STATUSES, getRun, type RunRow, type RunStatus } from '../queue/store.js'
import {
  getProject,
  getProjectJob,
  insertProject,
  latestProjectThread,
  listProjectJobs,
  previousEndedJob,
  selectProjects,
  setJobConversation,
  setProjectResult,
  touchProject,
  type ProjectRow,
  type ProjectWithLatest,
} from '../queue/project-store.js'
import { fieldErrors } from './dispatch-request.js'
import { nextBefore, parsePage } from './paging.js'
import { runLinks, type RunService } from './runs.js'
import {
  listWorkspaceFiles,
  parseWorkspacePath,
  readWorkspaceFile,
  type WorkspaceFile,
  type WorkspaceFileContents,
} from './workspace-files.js'

/** Longest instruction accepted, in characters (it reaches Codex inside the prompt). */
export const MAX_INSTRUCTION_CHARS = 20_000
/** Default largest file `GET …/files/*path` serves, in bytes. */
export const DEFAULT_FILE_MAX_BYTES = 1024 * 1024
/** Longest `?wait=true` wait, in seconds (and its default). */
export const MAX_WAIT_S = 600
/** Largest `.codex/result.json` copied into a job's row, in bytes. */
const RESULT_MAX_BYTES = 1024 * 1024

export interface ProjectServiceOptions {
  knex: Knex
  layout: DataLayout
  runs: RunService
  /** Null when no runner backend is available (creating projects and jobs answers 503). */
  scheduler: Scheduler | null
  unavailableReason?: string
  log: Logger
  timeoutDefaultS: number
  timeoutMaxS: number
  /** Largest file served, in bytes; default {@link DEFAULT_FILE_MAX_BYTES}. */
  fileMaxBytes?: number
}

/** The public view of a project job. */
export interface JobView {
  job_id: string
  /** The run executing the job (the same id): its log, events and rollout are under `/runs/<id>/`. */
  run_id: string
  project_id: string
  job_type: 'initial_project' | 'edit'
  instruction: string
  status: RunStatus
  reason: string | null
  message: string | null
  queued_at: string
  started_at: string | null
  finished_at: string | null
  thread_id: string | null
  /** The agent's last message. */
  summary: string | null
  /** `.codex/result.json` of the job once it has ended (`{status, summary, created_files, modified_files, errors, logs}`). */
  result: Record<string, unknown> | null
  links: Record<string, string>
}

/** The public view of a project; `jobs` (oldest first) only on `GET /projects/:id`. */
export interface ProjectView {
  project_id: string
  instruction: string
  /** The status of the project's latest job. */
  status: RunStatus | null
  /** The latest job's summary (the agent's last message). */
  summary: string | null
  created_at: string
  updated_at: string
  latest_job_id: string | null
  job_count: number
  jobs?: JobView[]
  links: Record<string, string>
}

const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null)

function projectLinks(id: string): Record<string, string> {
  const base = `/api/v1/projects/${id}`
  return { self: base, files: `${base}/files`, jobs: `${base}/jobs` }
}

/** Builds a job's public view from its run row. */
export function toJobView(row: RunRow): JobView {
  const projectId = row.project_id!
  const run = runLinks(row.id)
  return {
    job_id: row.id,
    run_id: row.id,
    project_id: projectId,
    job_type: row.job_type!,
    instruction: row.job_instruction ?? '',
    status: row.status,
    reason: row.reason,
    message: row.message,
    queued_at: iso(row.queued_at)!,
    started_at: iso(row.started_at),
    finished_at: iso(row.finished_at),
    thread_id: row.thread_id,
    summary: row.summary,
    result: row.project_result,
    links: {
      self: `/api/v1/projects/${projectId}/jobs/${row.id}`,
      project: `/api/v1/projects/${projectId}`,
      run: run.record,
      log: run.log,
      events: run.events,
      rollout: run.rollout,
      stream: run.stream,
      cancel: run.cancel,
    },
  }
}

function toProjectView(p: ProjectWithLatest, jobs?: RunRow[]): ProjectView {
  return {
    project_id: p.id,
    instruction: p.instruction,
    status: p.status,
    summary: p.summary,
    created_at: iso(p.created_at)!,
    updated_at: iso(p.updated_at)!,
    latest_job_id: p.latest_job_id,
    job_count: p.job_count,
    ...(jobs ? { jobs: jobs.map(toJobView) } : {}),
    links: projectLinks(p.id),
  }
}

const instruction = z.string().trim().min(1, 'must not be empty').max(MAX_INSTRUCTION_CHARS)
const model = z.string().min(1).max(200)

/** `POST /api/v1/projects` body (also the OpenAPI document's request body). */
export function createProjectSchema(timeoutMaxS: number) {
  return z
    .strictObject({
      instruction,
      config_toml: z.string().max(64 * 1024).default(''),
      model: model.nullish(),
      timeout_s: z.number().int().min(1).max(timeoutMaxS).optional(),
    })
    .superRefine((b, ctx) => {
      try {
        parseToml(b.config_toml)
      } catch (err) {
        ctx.addIssue({ code: 'custom', path: ['config_toml'], message: `is not valid TOML: ${(err as Error).message.split('\n')[0]}` })
      }
    })
}

/** `POST /api/v1/projects/:id/jobs` body (also the OpenAPI document's request body). */
export function createJobSchema(timeoutMaxS: number) {
  return z.strictObject({
    job_type: z.literal('edit', 'must be "edit" (the initial job is created with the project)'),
    instruction,
    model: model.nullish(),
    timeout_s: z.number().int().min(1).max(timeoutMaxS).optional(),
  })
}

function parseBody<T extends z.ZodType>(schema: T, body: unknown): z.output<T> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw validationError([{ field: 'body', message: 'must be a JSON object' }])
  }
  const parsed = schema.safeParse(body)
  if (!parsed.success) throw validationError(fieldErrors(parsed.error))
  return parsed.data
}

/** The prompt Codex gets for a job: the user's instruction, framed for the workspace. */
export function jobPrompt(jobType: 'initial_project' | 'edit', text: string): string {
  if (jobType === 'initial_project') {
    return [
      'Create a new project in the current directory. The current directory is the project\'s workspace;',
      'write every file of the project into it (not elsewhere). The project to build:',
      '',
      text,
      '',
      'When you are done, answer with a short summary of what you built.',
    ].join('\n')
  }
  return [
    'Change the project in the current directory (the workspace you built earlier in this conversation).',
    'Edit its files in place. The change to make:',
    '',
    text,
    '',
    'When you are done, answer with a short summary of what you changed.',
  ].join('\n')
}

export class ProjectService {
  private unsubscribe: (() => void) | null = null
  private readonly captures = new Set<Promise<void>>()

  constructor(private readonly opts: ProjectServiceOptions) {}

  /** Starts copying each finished job's `.codex/result.json` into its row as the job ends. */
  start(): void {
    this.unsubscribe =
      this.opts.scheduler?.subscribe((e) => {
        if (e.type !== 'run.finished' || !e.run.project_id) return
        const p = this.captureResult(e.run)
          .catch((err) => this.opts.log.warn({ err, run_id: e.run.id }, 'capturing a project result failed'))
          .finally(() => this.captures.delete(p))
        this.captures.add(p)
      }) ?? null
  }

  /** Stops listening and waits for captures in flight. */
  async stop(): Promise<void> {
    this.unsubscribe?.()
    this.unsubscribe = null
    await Promise.all([...this.captures])
  }

  private requireBackend(): void {
    if (!this.opts.scheduler) {
      throw new HttpError(503, 'runner_backend_unavailable', this.opts.unavailableReason ?? 'no runner backend is available')
    }
  }

  /**
   * `POST /projects`: creates the project, its workspace directory and its `initial_project` job.
   * @param body `{instruction, config_toml?, model?, timeout_s?}`.
   * @param q `wait` (`true`/`false`) and `timeout_s` (1-600 s, default 600): wait for the job to end.
   * @param signal aborts the wait (client gone); the project stays.
   * @returns the project with its job: as created (`queued`), or as it is when the wait ends.
   * @throws HttpError 400 naming bad fields, 503 without a runner backend.
   */
  async create(body: unknown, q: { wait?: string; timeout_s?: string }, signal?: AbortSignal): Promise<ProjectView> {
    const wait = parseWait(q)
    const b = parseBody(createProjectSchema(this.opts.timeoutMaxS), body)
    this.requireBackend()
    const id = crypto.randomUUID()
    const workspace = this.opts.layout.projectWorkspace(id)
    await this.opts.layout.ensureOwnedDirs(workspace)
    const project = await insertProject(this.opts.knex, {
      id,
      instruction: b.instruction,
      workspace,
      config_toml: b.config_toml,
      model: b.model ?? null,
    })
    const job = await this.enqueueJob(
      { id, config_toml: b.config_toml, model: b.model ?? null },
      { jobType: 'initial_project', instruction: b.instruction, model: null, timeoutS: b.timeout_s },
    )
    if (wait) {
      await this.waitForJob(job.id, wait.timeoutS * 1000, signal)
      return await this.get(id)
    }
    // What was created, as created: a fast scheduler may already have claimed the job.
    return toProjectView({ ...project, status: job.status, summary: null, latest_job_id: job.id, job_count: 1 }, [job])
  }

  /** Queues a job of a project as a run (state key and workspace = the project). */
  private async enqueueJob(
    project: Pick<ProjectRow, 'id' | 'config_toml' | 'model'>,
    job: { jobType: 'initial_project' | 'edit'; instruction: string; model: string | null; timeoutS?: number },
  ): Promise<RunRow> {
    const { run } = await this.opts.runs.enqueue(
      {
        state_key: project.id,
        prompt: jobPrompt(job.jobType, job.instruction),
        config_toml: project.config_toml,
        request: {
          workdir_rel: null,
          model: job.model ?? project.model,
          conversation_id: null,
          fork: false,
          pre_commands: [],
          post_commands: [],
          git_repo: null,
          git_branch: null,
          git_base: 'main',
          git_clone_dir_rel: '.',
          git_push: false,
        },
        timeout_s: job.timeoutS ?? this.opts.timeoutDefaultS,
        project_id: project.id,
        job_type: job.jobType,
        job_instruction: job.instruction,
      },
      undefined,
    )
    await touchProject(this.opts.knex, project.id)
    return run
  }

  /**
   * Resolves once the job has ended, `timeoutMs` has passed, or `signal` aborts. Woken by the
   * scheduler's run events, with a 1 s poll for runs finished by another control plane.
   */
  private async waitForJob(jobId: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const row = await getRun(this.opts.knex, jobId)
      if (!row || FINAL_STATUSES.includes(row.status)) return
      const left = deadline - Date.now()
      if (left <= 0 || signal?.aborted) return
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer)
          unsubscribe?.()
          signal?.removeEventListener('abort', done)
          resolve()
        }
        const timer = setTimeout(done, Math.min(left, 1000))
        const unsubscribe = this.opts.scheduler?.subscribe((e) => {
          if (e.run.id === jobId && e.type === 'run.finished') done()
        })
        signal?.addEventListener('abort', done)
      })
    }
  }

  /**
   * `GET /projects`: newest first, keyset-paginated.
   * @param q `limit` (1-200, default 50), `before` (a project id: the last one of the previous page).
   * @throws HttpError 400 for a bad limit or before.
   */
  async list(q: { limit?: string; before?: string }): Promise<{ projects: ProjectView[]; next_before: string | null }> {
    const { limit, before, errors } = await parsePage(q, { maxLimit: 200, what: 'project', lookup: (id) => getProject(this.opts.knex, id) })
    if (errors.length) throw validationError(errors)
    const rows = await selectProjects(this.opts.knex, { limit, before })
    return { projects: rows.map((p) => toProjectView(p)), next_before: nextBefore(rows, limit) }
  }

  /** @throws HttpError 404 for an unknown project id. */
  private async project(id: string): Promise<ProjectRow> {
    const row = await getProject(this.opts.knex, id)
    if (!row) throw notFound('project', id)
    return row
  }

  /**
   * `GET /projects/:id`: the project with its jobs, oldest first (the latest job last).
   * @throws HttpError 404 for an unknown id.
   */
  async get(id: string): Promise<ProjectView> {
    await this.project(id)
    const [p] = await selectProjects(this.opts.knex, { id, limit: 1 })
    const jobs = await listProjectJobs(this.opts.knex, id)
    return toProjectView(p, await Promise.all(jobs.map((j) => this.withResult(j))))
  }

  /** `GET /projects/:id/jobs`: `{jobs}` oldest first. @throws HttpError 404 for an unknown id. */
  async listJobs(id: string): Promise<{ jobs: JobView[] }> {
    await this.project(id)
    const jobs = await listProjectJobs(this.opts.knex, id)
    return { jobs: (await Promise.all(jobs.map((j) => this.withResult(j)))).map(toJobView) }
  }

  /**
   * `POST /projects/:id/jobs`: queues an edit job against the project's workspace. It waits for
   * any earlier job of the project (same state key) and resumes the project's Codex thread.
   * @param body `{job_type: "edit", instruction, model?, timeout_s?}`.
   * @throws HttpError 404 unknown project, 400 naming bad fields, 503 without a runner backend.
   */
  async createJob(id: string, body: unknown): Promise<JobView> {
    const project = await this.project(id)
    const b = parseBody(createJobSchema(this.opts.timeoutMaxS), body)
    this.requireBackend()
    const run = await this.enqueueJob(project, {
      jobType: b.job_type,
      instruction: b.instruction,
      model: b.model ?? null,
      timeoutS: b.timeout_s,
    })
    return toJobView(run)
  }

  /** `GET /projects/:id/jobs/:job_id`. @throws HttpError 404 for an unknown project or job. */
  async getJob(id: string, jobId: string): Promise<JobView> {
    await this.project(id)
    const row = await getProjectJob(this.opts.knex, id, jobId)
    if (!row) throw notFound('job', jobId)
    return toJobView(await this.withResult(row))
  }

  /**
   * `GET /projects/:id/files`: every file of the workspace (recursive, sorted, `.git` left out).
   * @throws HttpError 404 for an unknown project.
   */
  async listFiles(id: string): Promise<{ files: WorkspaceFile[]; truncated: boolean }> {
    await this.project(id)
    return await listWorkspaceFiles(this.opts.layout.projectWorkspace(id))
  }

  /**
   * `GET /projects/:id/files/*path`: one file, never anything outside the workspace.
   * @param rawPath the URL path below `/files/`, still percent-encoded.
   * @throws HttpError 404 unknown project or file (also a path resolving outside), 400 for a
   *   path that leaves the workspace or is not a file, 413 past the size cap.
   */
  async readFile(id: string, rawPath: string): Promise<WorkspaceFileContents> {
    const segments = parseWorkspacePath(rawPath)
    await this.project(id)
    return await readWorkspaceFile(this.opts.layout.projectWorkspace(id), segments, this.opts.fileMaxBytes ?? DEFAULT_FILE_MAX_BYTES)
  }

  /**
   * The scheduler's `projectOf` hook, called when a run is claimed, before its runner starts:
   * binds a project job to its workspace, copies the previous job's result (this job's runner
   * will overwrite `.codex/`), and for an edit decides the Codex thread to resume.
   * @returns null for plain runs.
   * @throws when the run's project row is gone (the run then fails to start).
   */
  async projectOf(run: RunRow): Promise<ProjectBinding | null> {
    if (!run.project_id || !run.job_type) return null
    const project = await getProject(this.opts.knex, run.project_id)
    if (!project) throw new Error(`project ${run.project_id} of run ${run.id} does not exist`)
    const workspace = this.opts.layout.projectWorkspace(project.id)
    const previous = await previousEndedJob(this.opts.knex, project.id, run)
    if (previous && !previous.project_result) await this.captureResult(previous)
    let conversationId: string | null = null
    if (run.job_type === 'edit' && !run.request.conversation_id) {
      conversationId = await latestProjectThread(this.opts.knex, project.id, run)
      if (conversationId) await setJobConversation(this.opts.knex, run.id, conversationId)
    }
    return {
      workspace,
      project: { project_id: project.id, job_id: run.id, job_type: run.job_type, instruction: run.job_instruction ?? '' },
      conversationId,
    }
  }

  /** A job row with its result captured if it has ended and the workspace still holds it. */
  private async withResult(row: RunRow): Promise<RunRow> {
    if (row.project_result || !FINAL_STATUSES.includes(row.status)) return row
    await this.captureResult(row)
    return (await getRun(this.opts.knex, row.id)) ?? row
  }

  /**
   * Copies `.codex/result.json` into an ended job's row, when the workspace's `.codex/request.json`
   * names this job (no later job has started) and result.json was written after it. Both files are
   * read through the workspace-safe reader: the agent controls the workspace and could have made
   * them symlinks.
   */
  private async captureResult(job: RunRow): Promise<void> {
    if (!job.project_id) return
    const workspace = this.opts.layout.projectWorkspace(job.project_id)
    const read = async (name: string) => {
      try {
        const f = await readWorkspaceFile(workspace, ['.codex', name], RESULT_MAX_BYTES)
        const value: unknown = f.encoding === 'utf-8' ? JSON.parse(f.contents) : null
        return value && typeof value === 'object' && !Array.isArray(value) ? { value: value as Record<string, unknown>, at: f.modified_at } : null
      } catch {
        return null
      }
    }
    const request = await read('request.json')
    if (!request || request.value.job_id !== job.id) return
    const result = await read('result.json')
    if (!result || result.at < request.at) return
    await setProjectResult(this.opts.knex, job.id, result.value)
  }
}

/** Parses `?wait=` and `?timeout_s=`; null when not waiting. @throws HttpError 400 naming them. */
function parseWait(q: { wait?: string; timeout_s?: string }): { timeoutS: number } | null {
  const errors = []
  const wait = q.wait === undefined ? false : ['true', '1'].includes(q.wait) ? true : ['false', '0'].includes(q.wait) ? false : null
  if (wait === null) errors.push({ field: 'wait', message: 'must be true or false' })
  const timeoutS = q.timeout_s === undefined ? MAX_WAIT_S : Number(q.timeout_s)
  if (!Number.isInteger(timeoutS) || timeoutS < 1 || timeoutS > MAX_WAIT_S) {
    errors.push({ field: 'timeout_s', message: `must be an integer from 1 to ${MAX_WAIT_S} (seconds)` })
  }
  if (errors.length) throw validationError(errors)
  return wait ? { timeoutS } : null
}
