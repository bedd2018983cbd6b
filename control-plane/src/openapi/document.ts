/**
 * The OpenAPI 3.1 document of the HTTP API (https://spec.openapis.org/oas/v3.1.0), generated from
 * the zod schemas that validate requests (services/dispatch-request.ts) and describe responses
 * (./schemas.ts) with `z.toJSONSchema` (JSON Schema 2020-12, the dialect OpenAPI 3.1 uses).
 * `ROUTES` is the table of every route; a test checks it against the Koa routers.
 */
import { z } from 'zod'
import { dispatchSchema } from '../services/dispatch-request.js'
import { createJobSchema, createProjectSchema } from '../services/projects.js'
import * as s from './schemas.js'

type Content = { schema: z.ZodType; io?: 'input' | 'output' } | { type: string; description?: string }
interface Param {
  name: string
  in: 'query' | 'header'
  description: string
  schema: Record<string, unknown>
}

/** One documented route. `path` uses the Koa router's syntax (`:id`, `*path`). */
export interface RouteDoc {
  method: 'get' | 'post'
  path: string
  summary: string
  /** Whether the dispatch token is required. */
  auth: boolean
  params?: Param[]
  body?: z.ZodType
  /** Status → JSON schema, or a non-JSON media type. */
  responses: Record<number, { description: string; json?: z.ZodType; content?: { type: string; example?: string } }>
}

const window: Param[] = [
  { name: 'offset', in: 'query', description: 'byte offset to read from (default 0)', schema: { type: 'integer', minimum: 0 } },
  { name: 'max_bytes', in: 'query', description: 'bytes to read at most (default 20000, capped by the server)', schema: { type: 'integer', minimum: 1 } },
]
const err = (description: string) => ({ description, json: s.errorEnvelope })
const runErrors = { 400: err('invalid query'), 401: err('missing or wrong token'), 404: err('unknown run id') }

/** Every route the control plane serves. */
export function routeTable(limits: { timeoutDefaultS: number; timeoutMaxS: number }): RouteDoc[] {
  const projectRoutes = (prefix: string, id: string): RouteDoc[] => [
    {
      method: 'get', path: `${prefix}/files`, auth: true, summary: "List a project's workspace files (recursive, .git excluded)",
      responses: { 200: { description: 'files', json: s.projectFiles }, 401: err('missing or wrong token'), 404: err(`unknown ${id}`) },
    },
    {
      method: 'get', path: `${prefix}/files/*path`, auth: true, summary: 'Read one workspace file (binary files base64 with `encoding`)',
      responses: {
        200: { description: 'the file', json: s.projectFile },
        400: err('path escapes the workspace'), 401: err('missing or wrong token'), 404: err('unknown project or file'),
      },
    },
    {
      method: 'get', path: `${prefix}/jobs`, auth: true, summary: "A project's jobs, oldest first",
      responses: { 200: { description: 'the jobs', json: s.projectJobList }, 401: err('missing or wrong token'), 404: err(`unknown ${id}`) },
    },
    {
      method: 'post', path: `${prefix}/jobs`, auth: true, summary: 'Start an edit job against the workspace', body: createJobSchema(limits.timeoutMaxS),
      responses: { 202: { description: 'the job, queued', json: s.projectJob }, 400: err('invalid body'), 401: err('missing or wrong token'), 404: err(`unknown ${id}`), 503: err('no runner backend') },
    },
    {
      method: 'get', path: `${prefix}/jobs/:job_id`, auth: true, summary: 'One job of a project',
      responses: { 200: { description: 'the job', json: s.projectJob }, 401: err('missing or wrong token'), 404: err('unknown project or job') },
    },
  ]
  return [
    { method: 'get', path: '/healthz', auth: false, summary: 'Liveness: the process is up', responses: { 200: { description: '`ok`', content: { type: 'text/plain', example: 'ok' } } } },
    {
      method: 'get', path: '/readyz', auth: false, summary: 'Readiness: Postgres and the runner backend answer',
      responses: { 200: { description: 'ready', json: s.readiness }, 503: err('a dependency does not answer (details: the checks)') },
    },
    { method: 'get', path: '/ui', auth: false, summary: 'The web UI (HTML; asks for the token, holds no data)', responses: { 200: { description: 'the page', content: { type: 'text/html' } } } },
    { method: 'get', path: '/openapi.json', auth: false, summary: 'This document', responses: { 200: { description: 'OpenAPI 3.1 document', json: s.openApiDocument } } },
    {
      method: 'get', path: '/metrics', auth: true, summary: 'Prometheus metrics (text exposition format 0.0.4)',
      responses: { 200: { description: 'metrics', content: { type: 'text/plain' } }, 401: err('missing or wrong token') },
    },
    {
      method: 'post', path: '/dispatch', auth: true, summary: 'Queue a run',
      params: [{ name: 'Idempotency-Key', in: 'header', description: 'a repeated POST with the same key returns the first run', schema: { type: 'string', minLength: 1, maxLength: 255 } }],
      body: dispatchSchema(limits),
      responses: {
        202: { description: 'queued; with `Accept: text/plain` the body is `queued:<run_id>:runner:<runner>`', json: s.dispatchAccepted, content: { type: 'text/plain' } },
        400: err('invalid body; details.fields names each bad field'), 401: err('missing or wrong token'),
        409: err('Idempotency-Key reused with another body'), 413: err('body too large'), 503: err('no runner backend'),
      },
    },
    {
      method: 'get', path: '/runs', auth: true, summary: 'Recent runs, newest first',
      params: [
        { name: 'status', in: 'query', description: 'only runs with this status', schema: z.toJSONSchema(s.runStatus) },
        { name: 'limit', in: 'query', description: 'page size, 1-500 (default 50)', schema: { type: 'integer', minimum: 1, maximum: 500 } },
        { name: 'before', in: 'query', description: 'run id: list runs older than it (next_before of the previous page)', schema: { type: 'string', format: 'uuid' } },
      ],
      responses: { 200: { description: 'a page of runs', json: s.runList }, 400: err('invalid query'), 401: err('missing or wrong token') },
    },
    { method: 'get', path: '/runs/:id/record', auth: true, summary: 'The run record', responses: { 200: { description: 'the record', json: s.runRecord }, ...runErrors } },
    { method: 'get', path: '/runs/:id/log', auth: true, summary: "Offset window of the run's log", params: window, responses: { 200: { description: 'a window', json: s.logWindow }, ...runErrors } },
    { method: 'get', path: '/runs/:id/events', auth: true, summary: 'Offset window of the log cut at line ends, JSON lines parsed', params: window, responses: { 200: { description: 'a window', json: s.eventWindow }, ...runErrors } },
    {
      method: 'get', path: '/runs/:id/rollout', auth: true, summary: 'Offset window of the Codex rollout JSONL', params: window,
      responses: { 200: { description: 'a window', json: s.rolloutWindow }, ...runErrors, 404: err('unknown run, or no rollout yet (code rollout_not_available)') },
    },
    {
      method: 'get', path: '/runs/:id/stream', auth: true,
      summary: 'Server-Sent Events: `event: log` (a plain line) and `event: event` (a JSON line), each with `id: <byte offset after it>`; a comment every 15 s; finally `event: end` with `{status, reason}`',
      params: [
        { name: 'Last-Event-ID', in: 'header', description: 'byte offset to resume from (the last id received)', schema: { type: 'string' } },
        { name: 'offset', in: 'query', description: 'byte offset to start from when there is no Last-Event-ID', schema: { type: 'integer', minimum: 0 } },
      ],
      responses: { 200: { description: 'the stream', content: { type: 'text/event-stream' } }, 401: err('missing or wrong token'), 404: err('unknown run id') },
    },
    {
      method: 'post', path: '/runs/:id/cancel', auth: true, summary: 'Cancel a queued or running run',
      responses: {
        200: { description: 'canceled (it was queued)', json: s.runRecord }, 202: { description: 'stopping (it was running)', json: s.runRecord },
        401: err('missing or wrong token'), 404: err('unknown run id'), 409: err('the run already ended'),
      },
    },
    {
      method: 'post', path: '/api/v1/projects', auth: true, summary: 'Create a project and its initial job', body: createProjectSchema(limits.timeoutMaxS),
      responses: { 201: { description: 'the project', json: s.project }, 400: err('invalid body'), 401: err('missing or wrong token'), 503: err('no runner backend') },
    },
    { method: 'get', path: '/api/v1/projects', auth: true, summary: 'List projects', responses: { 200: { description: 'projects', json: s.projectList }, 401: err('missing or wrong token') } },
    {
      method: 'get', path: '/api/v1/projects/:id', auth: true, summary: 'A project with its jobs (newest last)',
      responses: { 200: { description: 'the project', json: s.project }, 401: err('missing or wrong token'), 404: err('unknown project') },
    },
    ...projectRoutes('/api/v1/projects/:project_id', 'project'),
    ...projectRoutes('/api/v1/:project_id', 'project (earlier orchestrator paths)'),
  ]
}

/** Koa path → OpenAPI path: `:id` and `*path` become `{id}` and `{path}`. */
export function openApiPath(koaPath: string): string {
  return koaPath.replace(/[:*]([A-Za-z_][A-Za-z0-9_]*)/g, '{$1}')
}

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const out = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<string, unknown>
  delete out.$schema
  return out
}

const componentName = new Map<z.ZodType, string>([
  [s.errorEnvelope, 'Error'],
  [s.dispatchAccepted, 'DispatchAccepted'],
  [s.runRecord, 'RunRecord'],
  [s.runList, 'RunList'],
  [s.logWindow, 'LogWindow'],
  [s.eventWindow, 'EventWindow'],
  [s.rolloutWindow, 'RolloutWindow'],
  [s.readiness, 'Readiness'],
  [s.project, 'Project'],
  [s.projectList, 'ProjectList'],
  [s.projectFiles, 'ProjectFiles'],
  [s.projectFile, 'ProjectFile'],
  [s.projectJob, 'ProjectJob'],
  [s.projectJobList, 'ProjectJobList'],
])

/**
 * Builds the document.
 * @param limits the server's run timeout default and maximum (seconds), as the dispatch validator uses them.
 */
export function buildOpenApiDocument(limits: { timeoutDefaultS: number; timeoutMaxS: number }): Record<string, any> {
  const schemas: Record<string, unknown> = { StreamEnd: jsonSchema(s.streamEnd, 'output') }
  const ref = (schema: z.ZodType, io: 'input' | 'output' = 'output') => {
    const name = componentName.get(schema)
    if (!name) return jsonSchema(schema, io)
    schemas[name] ??= jsonSchema(schema, io)
    return { $ref: `#/components/schemas/${name}` }
  }
  const paths: Record<string, Record<string, unknown>> = {}
  for (const r of routeTable(limits)) {
    const p = openApiPath(r.path)
    const pathParams = [...r.path.matchAll(/[:*]([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => ({
      name: m[1],
      in: 'path',
      required: true,
      schema: { type: 'string' },
      ...(r.path.includes(`*${m[1]}`) ? { description: 'a relative path; may contain `/`' } : {}),
    }))
    const responses: Record<string, unknown> = {}
    for (const [status, res] of Object.entries(r.responses)) {
      const content: Record<string, unknown> = {}
      if (res.json) content['application/json'] = { schema: ref(res.json) }
      if (res.content) content[res.content.type] = { schema: { type: 'string' }, ...(res.content.example ? { example: res.content.example } : {}) }
      responses[status] = { description: res.description, content }
    }
    ;(paths[p] ??= {})[r.method] = {
      summary: r.summary,
      operationId: `${r.method}${p.replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ''))}`,
      security: r.auth ? [{ dispatchToken: [] }, { bearer: [] }] : [],
      parameters: [...pathParams, ...(r.params ?? []).map((q) => ({ ...q, required: false }))],
      ...(r.body ? { requestBody: { required: true, content: { 'application/json': { schema: ref(r.body, 'input') } } } } : {}),
      responses,
    }
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'codex-dispatcher control plane',
      version: '0.1.0',
      description:
        'Runs Codex CLI jobs in one container per run. Every route needs the dispatch token (X-Dispatch-Token or Authorization: Bearer) except /healthz, /readyz, /ui and this document, which hold no data. Errors use the envelope `{"error": {code, message, details}}` and carry X-Request-Id.',
    },
    components: {
      securitySchemes: {
        dispatchToken: { type: 'apiKey', in: 'header', name: 'X-Dispatch-Token' },
        bearer: { type: 'http', scheme: 'bearer' },
      },
      schemas,
    },
    paths,
  }
}
