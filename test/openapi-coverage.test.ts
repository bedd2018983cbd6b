// /openapi.json documents every route the Koa routers serve, and the responses the service really
// sends match the document's schemas (JSON Schema turned back into validators with z.fromJSONSchema).
import t, { type Test } from 'tap'
import { z } from 'zod'
import { openApiPath } from '../control-plane/src/openapi/document.js'
import { startTestService } from './support/service.js'

const svc = await startTestService(t, { RUN_TIMEOUT_MAX_S: '900', RUN_TIMEOUT_DEFAULT_S: '600' })
const doc = (await (await fetch(`${svc.url}/openapi.json`)).json()) as Record<string, any>

/** Every `[METHOD, koaPath]` the app's routers answer (HEAD comes with GET). */
function routerRoutes(): Array<[string, string]> {
  const out: Array<[string, string]> = []
  for (const mw of svc.app.middleware as Array<{ router?: { stack: Array<{ methods: string[]; path: string }> } }>) {
    for (const layer of mw.router?.stack ?? []) {
      for (const m of layer.methods) if (m !== 'HEAD' && m !== 'OPTIONS') out.push([m.toLowerCase(), layer.path])
    }
  }
  return out
}

function resolveRefs(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(resolveRefs)
  if (schema && typeof schema === 'object') {
    const o = schema as Record<string, unknown>
    if (typeof o.$ref === 'string') return resolveRefs(doc.components.schemas[o.$ref.replace('#/components/schemas/', '')])
    return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, resolveRefs(v)]))
  }
  return schema
}

const exercised = new Set<string>()

/** Asserts the response's status is documented for the route and a JSON body matches its schema. */
async function check(t: Test, method: string, koaPath: string, res: Response): Promise<any> {
  const op = doc.paths[openApiPath(koaPath)]?.[method]
  t.ok(op, `${method} ${koaPath} is documented`)
  const spec = op?.responses?.[String(res.status)]
  t.ok(spec, `${method} ${koaPath} documents status ${res.status}`)
  exercised.add(`${method} ${koaPath}`)
  const type = (res.headers.get('content-type') ?? '').split(';')[0]
  if (type !== 'application/json') {
    t.ok(spec?.content?.[type], `${method} ${koaPath} ${res.status} documents ${type}`)
    return await res.text()
  }
  const body = await res.json()
  const schema = spec?.content?.['application/json']?.schema
  t.ok(schema, `${method} ${koaPath} ${res.status} has a JSON schema`)
  if (schema) {
    const parsed = z.fromJSONSchema(resolveRefs(schema) as never).safeParse(body)
    t.ok(parsed.success, `${method} ${koaPath} ${res.status} matches the document`, {
      issues: parsed.success ? undefined : parsed.error.issues.slice(0, 5),
      body,
    })
  }
  return body
}

t.test('the document is OpenAPI 3.1, served without a token', async (t) => {
  const res = await fetch(`${svc.url}/openapi.json`)
  t.equal(res.status, 200)
  t.equal(doc.openapi, '3.1.0')
  t.ok(doc.components.securitySchemes.dispatchToken)
  const dispatchBody = doc.components.schemas ? doc.paths['/dispatch'].post.requestBody.content['application/json'].schema : null
  t.same(dispatchBody.required.sort(), ['config_toml', 'prompt'], 'the dispatch body comes from the validator')
  t.equal(dispatchBody.properties.timeout_s.maximum, 900, "with the server's RUN_TIMEOUT_MAX_S")
})

t.test('every route the routers have is documented, and nothing else is', async (t) => {
  const served = new Set(routerRoutes().map(([m, p]) => `${m} ${openApiPath(p)}`))
  t.ok(served.size >= 20, `found the routers (${served.size} routes)`)
  const documented = new Set<string>()
  for (const [p, ops] of Object.entries(doc.paths as Record<string, Record<string, unknown>>)) {
    for (const m of Object.keys(ops)) documented.add(`${m} ${p}`)
  }
  t.same([...served].filter((r) => !documented.has(r)), [], 'no undocumented route')
  t.same([...documented].filter((r) => !served.has(r)), [], 'no documented route the service lacks')
})

t.test('real responses match the documented schemas', async (t) => {
  const noToken = (p: string, init: RequestInit = {}) => fetch(svc.url + p, init)
  await check(t, 'get', '/healthz', await noToken('/healthz'))
  await check(t, 'get', '/readyz', await noToken('/readyz'))
  await check(t, 'get', '/ui', await noToken('/ui'))
  await check(t, 'get', '/openapi.json', await noToken('/openapi.json'))
  await check(t, 'get', '/metrics', await svc.api('/metrics'))
  await check(t, 'get', '/metrics', await noToken('/metrics'))

  const slow = { prompt: 'wait', config_toml: '', state_key: 'oa', pre_commands: ['sleep 60'] }
  const a = await check(t, 'post', '/dispatch', await svc.api('/dispatch', { body: slow }))
  const queued = await svc.api('/dispatch', { body: { ...slow, prompt: 'queued behind a' }, headers: { Accept: 'text/plain' } })
  const line = await check(t, 'post', '/dispatch', queued)
  const bId = /^queued:([0-9a-f-]{36}):runner:/.exec(line)?.[1]
  t.ok(bId, 'text/plain dispatch answer')
  await check(t, 'post', '/dispatch', await svc.api('/dispatch', { body: { prompt: '' } }))
  await check(t, 'post', '/dispatch', await noToken('/dispatch', { method: 'POST' }))

  for (let i = 0; i < 100; i++) {
    const r = (await (await svc.api(`/runs/${a.run_id}/record`)).json()) as { status: string }
    if (r.status === 'running') break
    await new Promise((r) => setTimeout(r, 100))
  }
  await check(t, 'get', '/runs', await svc.api('/runs?limit=1'))
  await check(t, 'get', '/runs', await svc.api('/runs?status=nope'))
  await check(t, 'get', '/runs/:id/record', await svc.api(`/runs/${a.run_id}/record`))
  await check(t, 'get', '/runs/:id/record', await svc.api('/runs/00000000-0000-4000-8000-000000000000/record'))
  await check(t, 'get', '/runs/:id/log', await svc.api(`/runs/${a.run_id}/log?max_bytes=100`))
  await check(t, 'get', '/runs/:id/events', await svc.api(`/runs/${a.run_id}/events`))
  await check(t, 'get', '/runs/:id/events', await svc.api(`/runs/${a.run_id}/events?offset=-1`))
  await check(t, 'get', '/runs/:id/rollout', await svc.api(`/runs/${a.run_id}/rollout`))
  const stream = await svc.api(`/runs/${bId}/stream`)
  t.equal(stream.headers.get('x-accel-buffering'), 'no')
  t.ok(doc.paths['/runs/{id}/stream'].get.responses['200'].content['text/event-stream'])
  exercised.add('get /runs/:id/stream')
  await stream.body?.cancel()
  await check(t, 'get', '/runs/:id/stream', await svc.api('/runs/00000000-0000-4000-8000-000000000000/stream'))
  await check(t, 'post', '/runs/:id/cancel', await svc.api(`/runs/${bId}/cancel`, { method: 'POST' }))
  await check(t, 'post', '/runs/:id/cancel', await svc.api(`/runs/${a.run_id}/cancel`, { method: 'POST' }))
  await check(t, 'post', '/runs/:id/cancel', await svc.api(`/runs/${bId}/cancel`, { method: 'POST' }))

  const proj = await check(t, 'post', '/api/v1/projects', await svc.api('/api/v1/projects', { body: { instruction: 'make a readme' } }))
  await check(t, 'post', '/api/v1/projects', await svc.api('/api/v1/projects', { body: {} }))
  const pid = proj.project_id as string
  await check(t, 'get', '/api/v1/projects', await svc.api('/api/v1/projects'))
  await check(t, 'get', '/api/v1/projects/:id', await svc.api(`/api/v1/projects/${pid}`))
  await check(t, 'get', '/api/v1/projects/:id', await svc.api('/api/v1/projects/00000000-0000-4000-8000-000000000000'))
  for (const base of [`/api/v1/projects/${pid}`, `/api/v1/${pid}`]) {
    const koa = base.includes('/projects/') ? '/api/v1/projects/:project_id' : '/api/v1/:project_id'
    await check(t, 'get', `${koa}/files`, await svc.api(`${base}/files`))
    await check(t, 'get', `${koa}/files/*path`, await svc.api(`${base}/files/.codex/request.json`))
    await check(t, 'get', `${koa}/files/*path`, await svc.api(`${base}/files/..%2f..%2fetc/passwd`))
    await check(t, 'get', `${koa}/jobs`, await svc.api(`${base}/jobs`))
    const job = await check(t, 'post', `${koa}/jobs`, await svc.api(`${base}/jobs`, { body: { job_type: 'edit', instruction: 'more' } }))
    await check(t, 'get', `${koa}/jobs/:job_id`, await svc.api(`${base}/jobs/${job.job_id}`))
  }

  const all = routerRoutes().map(([m, p]) => `${m} ${p}`)
  t.same(all.filter((r) => !exercised.has(r)), [], 'every route was exercised against the document')
})
