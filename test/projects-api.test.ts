// Projects API over HTTP against the real control plane and Postgres: validation, 404s, auth,
// wait bounds, file listing/reading and every kind of path that tries to leave the workspace.
// Jobs stay queued here (the scheduler is stopped); the agent runs in projects-e2e.test.ts.
import fs from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import t, { type Test } from 'tap'
import { startTestService, TEST_TOKEN } from './support/service.js'

const FILE_MAX = 1024 * 1024
const svc = await startTestService(t, { RUN_TIMEOUT_MAX_S: '600', RUN_TIMEOUT_DEFAULT_S: '300' })
await svc.scheduler!.stop()

type Json = Record<string, any>

/** GET with the raw path exactly as given: fetch() would normalise `..` and `//` away first. */
function rawGet(rawPath: string, headers: Record<string, string> = { 'X-Dispatch-Token': TEST_TOKEN }): Promise<{ status: number; text: string }> {
  const url = new URL(svc.url)
  return new Promise((resolve, reject) => {
    const req = http.get({ host: url.hostname, port: url.port, path: rawPath, headers }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (text += c))
      res.on('end', () => resolve({ status: res.statusCode!, text }))
    })
    req.on('error', reject)
  })
}

async function createProject(t: Test, body: unknown = { instruction: 'Build a small static web page' }): Promise<Json> {
  const res = await svc.api('/api/v1/projects', { body })
  t.equal(res.status, 201, 'project created')
  return (await res.json()) as Json
}

async function expectFieldError(t: Test, res: Response, fields: string[]): Promise<void> {
  t.equal(res.status, 400)
  const json = (await res.json()) as Json
  t.equal(json.error.code, 'invalid_request')
  const named = json.error.details.fields.map((f: Json) => f.field)
  for (const f of fields) t.ok(named.includes(f), `names ${f}: ${JSON.stringify(json.error.details.fields)}`)
}

t.test('creating a project answers 201 queued with its initial job, workspace and run', async (t) => {
  const p = await createProject(t, { instruction: 'Build a small static web page', model: 'some-model' })
  t.match(p.project_id, /^[0-9a-f-]{36}$/)
  t.equal(p.status, 'queued')
  t.equal(p.instruction, 'Build a small static web page')
  t.equal(p.jobs.length, 1)
  const job = p.jobs[0]
  t.equal(job.job_type, 'initial_project')
  t.equal(job.status, 'queued')
  t.equal(job.run_id, job.job_id)
  t.equal(job.result, null)
  t.equal(job.links.log, `/runs/${job.run_id}/log`)
  t.ok(fs.statSync(path.join(svc.dataDir, 'projects', p.project_id)).isDirectory(), 'the workspace exists')

  // The job is a run: same polling routes, state key = project, prompt carries the instruction.
  const rec = (await (await svc.api(`/runs/${job.run_id}/record`)).json()) as Json
  t.equal(rec.state_key, p.project_id)
  t.equal(rec.project_id, p.project_id)
  t.equal(rec.job_type, 'initial_project')
  t.equal(rec.request.model, 'some-model')
  t.match(rec.request.prompt, /Create a new project in the current directory/)
  t.match(rec.request.prompt, /Build a small static web page/)

  const viaJob = (await (await svc.api(`/api/v1/projects/${p.project_id}/jobs/${job.job_id}`)).json()) as Json
  t.same(viaJob, job)
  const legacy = (await (await svc.api(`/api/v1/${p.project_id}/jobs/${job.job_id}`)).json()) as Json
  t.same(legacy, job, 'the earlier orchestrator path serves the same job')
})

t.test('an edit job is queued behind the project, and the project status follows its latest job', async (t) => {
  const p = await createProject(t)
  const res = await svc.api(`/api/v1/projects/${p.project_id}/jobs`, { body: { job_type: 'edit', instruction: 'Make the title blue' } })
  t.equal(res.status, 202)
  const job = (await res.json()) as Json
  t.equal(job.job_type, 'edit')
  t.equal(job.instruction, 'Make the title blue')
  t.equal(job.status, 'queued')
  // The legacy path creates jobs too.
  const res2 = await svc.api(`/api/v1/${p.project_id}/jobs`, { body: { job_type: 'edit', instruction: 'Add a footer' } })
  t.equal(res2.status, 202)
  const job2 = (await res2.json()) as Json

  const cancel = await svc.api(`/runs/${job2.run_id}/cancel`, { method: 'POST' })
  t.equal(cancel.status, 200)
  const view = (await (await svc.api(`/api/v1/projects/${p.project_id}`)).json()) as Json
  t.same(view.jobs.map((j: Json) => j.job_id), [p.jobs[0].job_id, job.job_id, job2.job_id], 'jobs newest last')
  t.equal(view.latest_job_id, job2.job_id)
  t.equal(view.status, 'canceled', 'status of the latest job')
  t.equal(view.job_count, 3)
  const list = (await (await svc.api(`/api/v1/${p.project_id}/jobs`)).json()) as Json
  t.same(list.jobs.map((j: Json) => j.job_id), view.jobs.map((j: Json) => j.job_id))
})

t.test('projects are listed newest first with keyset pagination', async (t) => {
  const a = await createProject(t, { instruction: 'page a' })
  const b = await createProject(t, { instruction: 'page b' })
  const first = (await (await svc.api('/api/v1/projects?limit=1')).json()) as Json
  t.equal(first.projects.length, 1)
  t.equal(first.projects[0].project_id, b.project_id)
  t.equal(first.projects[0].status, 'queued')
  t.equal(first.next_before, b.project_id)
  const second = (await (await svc.api(`/api/v1/projects?limit=1&before=${first.next_before}`)).json()) as Json
  t.equal(second.projects[0].project_id, a.project_id)
  await expectFieldError(t, await svc.api('/api/v1/projects?limit=0'), ['limit'])
  await expectFieldError(t, await svc.api('/api/v1/projects?before=nope'), ['before'])
})

t.test('bad bodies and queries are 400 naming each field', async (t) => {
  const post = (body: unknown, q = '') => svc.api(`/api/v1/projects${q}`, { body })
  await expectFieldError(t, await post({}), ['instruction'])
  await expectFieldError(t, await post({ instruction: '   ' }), ['instruction'])
  await expectFieldError(t, await post({ instruction: 42 }), ['instruction'])
  await expectFieldError(t, await post({ instruction: 'x'.repeat(20_001) }), ['instruction'])
  await expectFieldError(t, await post({ instruction: 'ok', extra: true }), ['extra'])
  await expectFieldError(t, await post({ instruction: 'ok', config_toml: 'model = ' }), ['config_toml'])
  await expectFieldError(t, await post({ instruction: 'ok', timeout_s: 601 }), ['timeout_s'])
  await expectFieldError(t, await post({ prompt: 'x', config_toml: 3 }), ['instruction', 'prompt', 'config_toml'])
  await expectFieldError(t, await post([1]), ['body'])
  await expectFieldError(t, await post({ instruction: 'ok' }, '?wait=maybe&timeout_s=601'), ['wait', 'timeout_s'])

  const p = await createProject(t)
  const job = (body: unknown) => svc.api(`/api/v1/projects/${p.project_id}/jobs`, { body })
  await expectFieldError(t, await job({ instruction: 'x' }), ['job_type'])
  await expectFieldError(t, await job({ job_type: 'initial_project', instruction: 'x' }), ['job_type'])
  await expectFieldError(t, await job({ job_type: 'edit' }), ['instruction'])
  await expectFieldError(t, await job({ job_type: 'edit', instruction: 'x', conversation_id: 'y' }), ['conversation_id'])

  const bad = await svc.api('/api/v1/projects', { body: '{"instruction": ' })
  t.equal(bad.status, 400)
  t.equal(((await bad.json()) as Json).error.code, 'invalid_json')
  const view = (await (await svc.api(`/api/v1/projects/${p.project_id}`)).json()) as Json
  t.equal(view.jobs.length, 1, 'no job was queued for any invalid body')
})

t.test('unknown project and job ids are 404 with the error envelope', async (t) => {
  const p = await createProject(t)
  const unknown = '00000000-0000-4000-8000-000000000000'
  const paths = [
    `/api/v1/projects/${unknown}`,
    '/api/v1/projects/not-a-uuid',
    `/api/v1/projects/${unknown}/files`,
    `/api/v1/projects/${unknown}/files/index.html`,
    `/api/v1/projects/${unknown}/jobs`,
    `/api/v1/projects/${unknown}/jobs/${p.jobs[0].job_id}`,
    `/api/v1/projects/${p.project_id}/jobs/${unknown}`,
    `/api/v1/projects/${p.project_id}/jobs/not-a-uuid`,
    `/api/v1/${unknown}/files`,
    `/api/v1/${unknown}/jobs/${unknown}`,
    `/api/v1/${p.project_id}/jobs/${unknown}`,
  ]
  for (const u of paths) {
    const res = await svc.api(u)
    t.equal(res.status, 404, u)
    const json = (await res.json()) as Json
    t.match(json.error, { code: String, message: String }, `${u} has the envelope`)
    t.ok(res.headers.get('x-request-id'))
  }
  const other = await createProject(t)
  const cross = await svc.api(`/api/v1/projects/${other.project_id}/jobs/${p.jobs[0].job_id}`)
  t.equal(cross.status, 404, "another project's job is not found under this project")
  const post = await svc.api(`/api/v1/projects/${unknown}/jobs`, { body: { job_type: 'edit', instruction: 'x' } })
  t.equal(post.status, 404)
})

t.test('every projects route needs the token', async (t) => {
  const p = await createProject(t)
  for (const u of ['/api/v1/projects', `/api/v1/projects/${p.project_id}`, `/api/v1/projects/${p.project_id}/files`, `/api/v1/${p.project_id}/files/x`, `/api/v1/${p.project_id}/jobs`]) {
    const res = await rawGet(u, {})
    t.equal(res.status, 401, u)
    t.equal(JSON.parse(res.text).error.code, 'unauthorized')
    const wrong = await rawGet(u, { 'X-Dispatch-Token': 'wrong-token-0123456789' })
    t.equal(wrong.status, 401)
  }
  const res = await fetch(`${svc.url}/api/v1/projects`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"instruction":"x"}' })
  t.equal(res.status, 401)
})

t.test('?wait=true gives up at its bound and answers the project as it is', async (t) => {
  const started = Date.now()
  const res = await svc.api('/api/v1/projects?wait=true&timeout_s=1', { body: { instruction: 'never runs (no scheduler)' } })
  t.equal(res.status, 201)
  const p = (await res.json()) as Json
  t.equal(p.status, 'queued')
  t.ok(Date.now() - started >= 900, 'it waited about a second')
})

t.test('files: listing, text, binary, size cap, and nothing outside the workspace is ever read', async (t) => {
  const p = await createProject(t)
  const id = p.project_id
  const ws = path.join(svc.dataDir, 'projects', id)
  const SECRET = 'SENTINEL-never-serve-7f3a9c'
  const outsideDir = path.join(svc.dataDir, 'outside')
  fs.mkdirSync(outsideDir)
  const sentinel = path.join(outsideDir, 'sentinel.txt')
  fs.writeFileSync(sentinel, SECRET + '\n')
  const sentinelInData = path.join(svc.dataDir, 'sentinel.txt')
  fs.writeFileSync(sentinelInData, SECRET + '\n')
  // A read updates atime on this filesystem when atime is older than a day (relatime); the
  // control file proves it, so an unchanged sentinel atime proves it was never read.
  const old = new Date('2000-01-01T00:00:00Z')
  const control = path.join(outsideDir, 'control.txt')
  fs.writeFileSync(control, 'control')
  for (const f of [sentinel, sentinelInData, control]) fs.utimesSync(f, old, old)
  fs.readFileSync(control)
  t.not(fs.statSync(control).atimeMs, old.getTime(), 'a read updates atime here')

  fs.mkdirSync(path.join(ws, 'src/deep'), { recursive: true })
  fs.mkdirSync(path.join(ws, '.git'))
  fs.writeFileSync(path.join(ws, '.git/config'), '[core]\n')
  fs.writeFileSync(path.join(ws, 'index.html'), '<h1>hi</h1>\n')
  fs.writeFileSync(path.join(ws, 'src/deep/ü b.js'), 'export const x = "é"\n')
  fs.writeFileSync(path.join(ws, 'logo.png'), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 0xff]))
  fs.writeFileSync(path.join(ws, 'big.txt'), Buffer.alloc(FILE_MAX + 1, 'a'))
  fs.writeFileSync(path.join(ws, 'exact.txt'), Buffer.alloc(FILE_MAX, 'b'))
  fs.symlinkSync('index.html', path.join(ws, 'alias.html'))
  fs.symlinkSync(sentinel, path.join(ws, 'abs-link.txt'))
  fs.symlinkSync('../../outside/sentinel.txt', path.join(ws, 'rel-link.txt'))
  fs.symlinkSync(outsideDir, path.join(ws, 'dir-link'))
  fs.symlinkSync('../../outside', path.join(ws, 'src/rel-dir-link'))
  fs.symlinkSync('dangling-target', path.join(ws, 'dangling'))

  const bodies: string[] = []
  const get = async (u: string) => {
    const res = await rawGet(u)
    bodies.push(res.text)
    return { status: res.status, json: JSON.parse(res.text) as Json }
  }

  for (const base of [`/api/v1/projects/${id}`, `/api/v1/${id}`]) {
    const list = await get(`${base}/files`)
    t.equal(list.status, 200)
    t.same(list.json, {
      files: [
        { path: 'alias.html', size: 12 },
        { path: 'big.txt', size: FILE_MAX + 1 },
        { path: 'exact.txt', size: FILE_MAX },
        { path: 'index.html', size: 12 },
        { path: 'logo.png', size: 8 },
        { path: 'src/deep/ü b.js', size: Buffer.byteLength('export const x = "é"\n') },
      ],
      truncated: false,
    }, 'recursive, sorted, .git and escaping symlinks left out')

    const text = await get(`${base}/files/index.html`)
    t.equal(text.status, 200)
    t.match(text.json, { path: 'index.html', encoding: 'utf-8', contents: '<h1>hi</h1>\n', size: 12 })
    const nested = await get(`${base}/files/src/deep/${encodeURIComponent('ü b.js')}`)
    t.match(nested.json, { path: 'src/deep/ü b.js', contents: 'export const x = "é"\n' })
    const bin = await get(`${base}/files/logo.png`)
    t.match(bin.json, { encoding: 'base64', size: 8 })
    t.same(Buffer.from(bin.json.contents, 'base64'), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 0xff]))
    const alias = await get(`${base}/files/alias.html`)
    t.equal(alias.json.contents, '<h1>hi</h1>\n', 'a symlink inside the workspace is served')
    const exact = await get(`${base}/files/exact.txt`)
    t.equal(exact.status, 200, 'a file at the cap is served')
    const big = await get(`${base}/files/big.txt`)
    t.equal(big.status, 413)
    t.same(big.json.error, {
      code: 'file_too_large',
      message: `file big.txt is ${FILE_MAX + 1} bytes, more than the ${FILE_MAX} bytes served`,
      details: { size: FILE_MAX + 1, max_bytes: FILE_MAX },
    })
    t.equal((await get(`${base}/files/src`)).status, 400, 'a directory is not a file')
    t.equal((await get(`${base}/files/missing.txt`)).status, 404)
    t.equal((await get(`${base}/files/.git/config`)).status, 404, '.git is not served')
    t.equal((await get(`${base}/files/dangling`)).status, 404)

    const refused: Array<[string, number]> = [
      ['../../sentinel.txt', 400],
      ['../../outside/sentinel.txt', 400],
      ['src/../../../sentinel.txt', 400],
      ['./index.html', 400],
      ['%2e%2e/%2e%2e/sentinel.txt', 400],
      ['%2E%2E%2F%2E%2E%2Fsentinel.txt', 400],
      ['..%2f..%2foutside%2fsentinel.txt', 400],
      ['src%2f..%2f..%2f..%2fsentinel.txt', 400],
      ['%2e%2e%5c%2e%2e%5csentinel.txt', 400],
      ['%252e%252e/%252e%252e/sentinel.txt', 404],
      [`/${sentinel.slice(1)}`, 400],
      [encodeURIComponent(sentinel), 400],
      ['index.html%00.png', 400],
      ['%zz', 400],
      ['abs-link.txt', 404],
      ['rel-link.txt', 404],
      ['dir-link/sentinel.txt', 404],
      ['src/rel-dir-link/sentinel.txt', 404],
      ['dir-link/../index.html', 400],
    ]
    for (const [p, status] of refused) {
      const res = await get(`${base}/files/${p}`)
      t.equal(res.status, status, `${p} → ${status}`)
      t.match(res.json.error, { code: status === 400 ? 'invalid_path' : 'file_not_found', message: String })
    }
  }
  t.ok(bodies.length > 50, `${bodies.length} responses checked`)
  t.notOk(bodies.some((body) => body.includes(SECRET)), 'no response carries the sentinel')
  t.equal(fs.statSync(sentinel).atimeMs, old.getTime(), 'the sentinel outside the workspace was never read')
  t.equal(fs.statSync(sentinelInData).atimeMs, old.getTime(), 'the sentinel in the data dir was never read')
})

t.test("a job's result is never taken from a .codex that points outside the workspace", async (t) => {
  const p = await createProject(t)
  const job = p.jobs[0]
  const SECRET = 'SENTINEL-result-outside-4c1e'
  const outside = path.join(svc.dataDir, 'outside-codex')
  fs.mkdirSync(outside)
  fs.writeFileSync(path.join(outside, 'request.json'), JSON.stringify({ project_id: p.project_id, job_id: job.job_id }))
  fs.writeFileSync(path.join(outside, 'result.json'), JSON.stringify({ status: 'success', summary: SECRET }))
  fs.symlinkSync(outside, path.join(svc.dataDir, 'projects', p.project_id, '.codex'))
  t.equal((await svc.api(`/runs/${job.run_id}/cancel`, { method: 'POST' })).status, 200)
  const text = await (await svc.api(`/api/v1/projects/${p.project_id}/jobs/${job.job_id}`)).text()
  t.equal(JSON.parse(text).status, 'canceled')
  t.equal(JSON.parse(text).result, null, 'no result captured')
  t.notOk(text.includes(SECRET))
  const project = await (await svc.api(`/api/v1/projects/${p.project_id}`)).text()
  t.notOk(project.includes(SECRET))

  // Once the workspace is gone, files answer 404/empty rather than 500.
  fs.rmSync(path.join(svc.dataDir, 'projects', p.project_id), { recursive: true })
  t.same(await (await svc.api(`/api/v1/projects/${p.project_id}/files`)).json(), { files: [], truncated: false })
  t.equal((await svc.api(`/api/v1/projects/${p.project_id}/files/index.html`)).status, 404)
})
