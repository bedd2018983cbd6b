/**
 * zod schemas of the API's responses: the source the OpenAPI document is generated from (request
 * bodies come from the validators themselves, e.g. services/dispatch-request.ts). The compile-time
 * checks at the bottom keep them in line with the TypeScript types the services return.
 */
import { z } from 'zod'
import type { RunRecord } from '../services/runs.js'
import type { EventWindow, LogWindow } from '../services/log-window.js'

export const runStatus = z.enum(['queued', 'running', 'succeeded', 'failed', 'canceled'])
const timestamp = z.iso.datetime()
const commandOutcomes = z.array(z.object({ command: z.string(), exit_code: z.int() })).nullable()

/** `{"error": {code, message, details}}`, the body of every error response (SPEC section 2). */
export const errorEnvelope = z.object({
  error: z.object({
    code: z.string().describe('machine-readable, e.g. `invalid_request`, `not_found`, `unauthorized`'),
    message: z.string(),
    details: z.unknown().describe('for `invalid_request`: `{fields: [{field, message}]}`; otherwise code-specific or null'),
  }),
})

export const runLinks = z.record(z.string(), z.string()).describe('relative URLs of the run: record, log, events, rollout, stream, cancel')

export const dispatchAccepted = z.object({
  run_id: z.uuid(),
  status: runStatus,
  runner: z.string().describe('runner (container) id, or `already_running`'),
  links: runLinks,
})

export const runRecord = z.object({
  run_id: z.uuid(),
  status: runStatus,
  state_key: z.string(),
  queued_at: timestamp,
  started_at: timestamp.nullable(),
  finished_at: timestamp.nullable(),
  request: z.record(z.string(), z.unknown()).describe('the dispatch fields with defaults applied; secret-looking config_toml values redacted'),
  container_id: z.string().nullable(),
  exit_code: z.int().nullable(),
  reason: z.string().nullable().describe('why a run failed or stopped: timeout, canceled, codex_failed, runner_error, …'),
  message: z.string().nullable(),
  thread_id: z.string().nullable().describe('Codex thread id (from `thread.started`)'),
  rollout_path: z.string().nullable().describe("rollout JSONL path relative to the state's Codex home"),
  usage: z.object({ input_tokens: z.number(), cached_input_tokens: z.number(), output_tokens: z.number() }).nullable(),
  summary: z.string().nullable().describe("the agent's last message"),
  pre_commands: commandOutcomes,
  post_commands: commandOutcomes,
  git: z.object({ branch: z.string().nullable(), commit: z.string().nullable(), pushed: z.boolean() }).nullable(),
  project_id: z.uuid().nullable().optional().describe('the project this run is a job of, if any'),
  job_type: z.enum(['initial_project', 'edit']).nullable().optional(),
  links: runLinks,
})

export const runList = z.object({
  runs: z.array(runRecord),
  next_before: z.uuid().nullable().describe('pass as `before` for the next page; null on the last page'),
})

export const logWindow = z.object({
  offset: z.int().min(0).describe('byte offset the content starts at'),
  next_offset: z.int().min(0).describe('byte offset to ask for next'),
  size: z.int().min(0).describe('file size in bytes now'),
  eof: z.boolean().describe('true only when the run has ended and next_offset == size'),
  content: z.string(),
})

export const eventWindow = logWindow.extend({
  events: z.array(z.unknown()).describe('the JSON lines of the window, parsed (Codex `--json` events and `runner.*` events)'),
})

export const rolloutWindow = logWindow.extend({ thread_id: z.string(), rollout_path: z.string() })

export const readiness = z.object({ status: z.literal('ready'), checks: z.record(z.string(), z.string()) })

/** The shape of `/openapi.json` itself (its full schema is the OpenAPI 3.1 specification's). */
export const openApiDocument = z.looseObject({ openapi: z.literal('3.1.0'), info: z.looseObject({ title: z.string() }), paths: z.record(z.string(), z.unknown()) })

/** `event: end` data of `GET /runs/:id/stream`. */
export const streamEnd = z.object({ status: runStatus, reason: z.string().nullable() })

// Projects (SPEC section 2, "Projects"). Request bodies come from services/projects.ts; these
// describe the views it returns (services/projects.ts ProjectView, JobView).
export const projectJob = z.object({
  job_id: z.uuid(),
  run_id: z.uuid().describe('the run executing the job: its log, events and stream are under /runs/<run_id>/'),
  project_id: z.uuid(),
  job_type: z.enum(['initial_project', 'edit']),
  instruction: z.string(),
  status: runStatus,
  reason: z.string().nullable(),
  message: z.string().nullable(),
  queued_at: timestamp,
  started_at: timestamp.nullable(),
  finished_at: timestamp.nullable(),
  thread_id: z.string().nullable(),
  summary: z.string().nullable(),
  result: z.record(z.string(), z.unknown()).nullable().describe('`.codex/result.json`: {status, summary, created_files, modified_files, errors, logs}'),
  links: runLinks,
})
export const projectJobList = z.object({ jobs: z.array(projectJob) })
export const project = z.object({
  project_id: z.uuid(),
  instruction: z.string(),
  status: runStatus.nullable().describe("the latest job's status"),
  summary: z.string().nullable(),
  created_at: timestamp,
  updated_at: timestamp,
  latest_job_id: z.uuid().nullable(),
  job_count: z.int().min(0),
  jobs: z.array(projectJob).optional().describe('oldest first; only on GET /projects/:id'),
  links: z.record(z.string(), z.string()),
})
export const projectList = z.object({ projects: z.array(project), next_before: z.uuid().nullable() })
export const projectFiles = z.object({
  files: z.array(z.object({ path: z.string(), size: z.int().min(0) })),
  truncated: z.boolean().optional(),
})
export const projectFile = z.object({
  path: z.string(),
  size: z.int().min(0).describe('bytes'),
  modified_at: timestamp,
  encoding: z.enum(['utf-8', 'base64']).describe('`base64` for binary files'),
  contents: z.string(),
})

// The services' TypeScript types must stay assignable to what the document promises.
type Assignable<A extends B, B> = A
export type RunRecordMatchesSchema = Assignable<RunRecord, z.infer<typeof runRecord>>
export type LogWindowMatchesSchema = Assignable<LogWindow, z.infer<typeof logWindow>>
export type EventWindowMatchesSchema = Assignable<EventWindow, z.infer<typeof eventWindow>>
