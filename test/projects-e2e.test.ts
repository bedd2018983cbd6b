// The instruction → files → edit loop end to end on real parts: the control plane with its Docker
// backend, the runner image built from runner-image/Dockerfile, the real Codex CLI against a
// scripted model server. A client drives it over HTTP only, polling like SPEC section 2 says.
import t from 'tap'
import { ensureRunnerImage } from './support/images.js'
import { startModelServer, type ModelRequest } from './support/model-server.js'
import { startTestService } from './support/service.js'
import { mockProviderToml, pollToEof, scriptByMarker } from './support/e2e.js'

const MODEL_KEY = 'sk-projects-e2e-key-2b7d41aa'
const image = await ensureRunnerImage()
const model = await startModelServer(
  scriptByMarker({
    site: {
      cmds: [
        `printf '<!doctype html>\\n<link rel="stylesheet" href="style.css">\\n<h1>Counter</h1>\\n<script src="main.js"></script>\\n' > index.html`,
        `printf 'h1 { color: teal; }\\n' > style.css`,
        `printf 'console.log("v1")\\n' > main.js`,
      ],
      message: 'Created index.html, style.css and main.js.',
    },
    edit: {
      cmds: [`printf 'console.log("v2")\\n' > main.js`, `printf '<h2>About</h2>\\n' > about.html`],
      message: 'Changed main.js and added about.html.',
    },
    notes: { cmds: [`printf 'notes\\n' > NOTES.md`], message: 'Added NOTES.md.' },
    quick: { cmds: [`printf 'ok\\n' > done.txt`], message: 'Done quickly.' },
  }),
)
t.teardown(() => model.close())
const svc = await startTestService(t, {
  RUNNER_BACKEND: 'docker',
  RUNNER_IMAGE: image,
  RUNNER_NETWORK: 'host',
  RUNNER_CONCURRENCY: '2',
  OPENAI_API_KEY: MODEL_KEY,
})
const config_toml = mockProviderToml(model.url)

type Json = Record<string, any>

async function getJson(u: string): Promise<Json> {
  const res = await svc.api(u)
  const json = (await res.json()) as Json
  if (res.status !== 200) throw new Error(`${u} answered ${res.status}: ${JSON.stringify(json)}`)
  return json
}

/** Polls the project until its latest job has ended, like a client would. */
async function pollProject(id: string, timeoutMs = 180_000): Promise<Json> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const p = await getJson(`/api/v1/projects/${id}`)
    if (['succeeded', 'failed', 'canceled'].includes(p.status)) return p
    if (Date.now() > deadline) throw new Error(`project ${id} still ${p.status} after ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 300))
  }
}

/** The text of every user message of a model request. */
const requestText = (r: ModelRequest) => JSON.stringify(r.input ?? [])

let projectId = ''
let initialJob: Json = {}

t.test('an instruction becomes a workspace whose files are listed and read over HTTP', async (t) => {
  const res = await svc.api('/api/v1/projects', { body: { instruction: 'Build a counter page with HTML, CSS and JS. [[e2e:site]]', config_toml } })
  t.equal(res.status, 201)
  const created = (await res.json()) as Json
  t.equal(created.status, 'queued')
  projectId = created.project_id

  const p = await pollProject(projectId)
  t.equal(p.status, 'succeeded', JSON.stringify(p.jobs?.[0]?.message))
  t.equal(p.summary, 'Created index.html, style.css and main.js.')
  initialJob = p.jobs[0]
  t.equal(initialJob.job_type, 'initial_project')
  t.match(initialJob.thread_id, /^[0-9a-f-]{36}$/)
  t.same(initialJob.result, {
    status: 'success',
    summary: 'Created index.html, style.css and main.js.',
    created_files: ['index.html', 'main.js', 'style.css'],
    modified_files: [],
    errors: [],
    logs: initialJob.result.logs,
  })

  const list = await getJson(`/api/v1/projects/${projectId}/files`)
  t.same(list.files.map((f: Json) => f.path), ['.codex/request.json', '.codex/result.json', 'index.html', 'main.js', 'style.css'])
  t.equal(list.files.find((f: Json) => f.path === 'main.js').size, Buffer.byteLength('console.log("v1")\n'))
  const legacy = await getJson(`/api/v1/${projectId}/files`)
  t.same(legacy, list, 'the earlier orchestrator path lists the same files')

  const html = await getJson(`/api/v1/projects/${projectId}/files/index.html`)
  t.match(html, { path: 'index.html', encoding: 'utf-8' })
  t.match(html.contents, /<h1>Counter<\/h1>/)
  t.equal((await getJson(`/api/v1/projects/${projectId}/files/style.css`)).contents, 'h1 { color: teal; }\n')
  t.equal((await getJson(`/api/v1/${projectId}/files/main.js`)).contents, 'console.log("v1")\n')
  const request = JSON.parse((await getJson(`/api/v1/projects/${projectId}/files/.codex/request.json`)).contents)
  t.same(request, { project_id: projectId, job_id: initialJob.job_id, job_type: 'initial_project', instruction: initialJob.instruction })

  // The job is a run: its events are polled through the run routes the job view links to.
  const events = await pollToEof(svc, initialJob.run_id, 'events')
  t.ok(events.events.some((e) => e.type === 'thread.started' && e.thread_id === initialJob.thread_id), 'the run log has the thread')
  t.equal(initialJob.links.events, `/runs/${initialJob.run_id}/events`)
  const rec = await getJson(`/runs/${initialJob.run_id}/record`)
  t.match(rec.container_id, /^[0-9a-f]{64}$/, 'the job ran in a Docker container')
  t.equal(rec.state_key, projectId, 'with the project as its state key')
  t.ok(events.events.some((e) => e.type === 'runner.started' && e.uid === 1000), 'as the unprivileged runner user')
  t.ok(model.requests.some((r) => requestText(r).includes('Create a new project in the current directory')), 'the prompt framed the instruction')
})

t.test('an edit job changes the workspace in the same Codex thread; result.json lists exactly its changes', async (t) => {
  const requestsBefore = model.requests.length
  const res = await svc.api(`/api/v1/projects/${projectId}/jobs`, {
    body: { job_type: 'edit', instruction: 'Make main.js print v2 and add an about page. [[e2e:edit]]' },
  })
  t.equal(res.status, 202)
  const queued = (await res.json()) as Json
  t.equal(queued.status, 'queued')

  const p = await pollProject(projectId)
  t.equal(p.status, 'succeeded')
  t.same(p.jobs.map((j: Json) => j.job_id), [initialJob.job_id, queued.job_id], 'jobs newest last')
  const job = await getJson(`/api/v1/projects/${projectId}/jobs/${queued.job_id}`)
  t.equal(job.status, 'succeeded')
  t.equal(job.thread_id, initialJob.thread_id, 'the edit ran in the same Codex thread')
  t.same(job.result, {
    status: 'success',
    summary: 'Changed main.js and added about.html.',
    created_files: ['about.html'],
    modified_files: ['main.js'],
    errors: [],
    logs: job.result.logs,
  })
  const onDisk = JSON.parse((await getJson(`/api/v1/projects/${projectId}/files/.codex/result.json`)).contents)
  t.same(onDisk, job.result, '.codex/result.json says the same')
  t.same(await getJson(`/api/v1/${projectId}/jobs/${queued.job_id}`), job, 'the earlier orchestrator path serves the job')

  const rec = await getJson(`/runs/${job.run_id}/record`)
  t.equal(rec.request.conversation_id, initialJob.thread_id, 'the run resumed the project thread')
  const first = model.requests[requestsBefore]
  t.ok(requestText(first).includes('Created index.html, style.css and main.js.'), "the model saw the initial job's conversation")
  t.ok(requestText(first).includes('[[e2e:site]]'), 'and its instruction')

  t.equal((await getJson(`/api/v1/projects/${projectId}/files/main.js`)).contents, 'console.log("v2")\n')
  t.equal((await getJson(`/api/v1/projects/${projectId}/files/about.html`)).contents, '<h2>About</h2>\n')
  // The initial job keeps its own result although the file was overwritten.
  t.same((await getJson(`/api/v1/projects/${projectId}/jobs/${initialJob.job_id}`)).result.created_files, ['index.html', 'main.js', 'style.css'])
})

t.test('a second edit posted while one runs waits its turn, then continues the thread', async (t) => {
  const post = async (instruction: string) => {
    const res = await svc.api(`/api/v1/projects/${projectId}/jobs`, { body: { job_type: 'edit', instruction } })
    t.equal(res.status, 202)
    return (await res.json()) as Json
  }
  const a = await post('Add notes. [[e2e:notes]]')
  const b = await post('Mark it done. [[e2e:quick]]')
  await pollProject(projectId)
  const ja = await getJson(`/api/v1/projects/${projectId}/jobs/${a.job_id}`)
  const jb = await getJson(`/api/v1/projects/${projectId}/jobs/${b.job_id}`)
  t.equal(ja.status, 'succeeded')
  t.equal(jb.status, 'succeeded')
  t.ok(Date.parse(jb.started_at) >= Date.parse(ja.finished_at), `the second started (${jb.started_at}) after the first ended (${ja.finished_at})`)
  t.equal(ja.thread_id, initialJob.thread_id)
  t.equal(jb.thread_id, initialJob.thread_id)
  t.same([ja.result.created_files, ja.result.modified_files], [['NOTES.md'], []])
  t.same([jb.result.created_files, jb.result.modified_files], [['done.txt'], []])
})

t.test('?wait=true answers with the finished project', async (t) => {
  const started = Date.now()
  const res = await svc.api('/api/v1/projects?wait=true&timeout_s=300', { body: { instruction: 'Something small. [[e2e:quick]]', config_toml } })
  t.equal(res.status, 201)
  const p = (await res.json()) as Json
  t.equal(p.status, 'succeeded', `finished in ${Date.now() - started} ms`)
  t.equal(p.summary, 'Done quickly.')
  t.same(p.jobs[0].result.created_files, ['done.txt'])
  const files = await getJson(`/api/v1/projects/${p.project_id}/files`)
  t.same(files.files.map((f: Json) => f.path), ['.codex/request.json', '.codex/result.json', 'done.txt'])
})
