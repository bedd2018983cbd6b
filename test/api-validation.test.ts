import t, { type Test } from 'tap'
import { startTestService, TEST_TOKEN } from './support/service.js'

const svc = await startTestService(t, { BODY_LIMIT_BYTES: '4096', RUN_TIMEOUT_MAX_S: '600', RUN_TIMEOUT_DEFAULT_S: '300' })
// Validation happens before anything is queued; the scheduler never sees these bodies.
await svc.scheduler!.stop()

const valid = { prompt: 'do it', config_toml: '' }

async function expectFieldError(t: Test, body: unknown, field: string, messagePart?: RegExp) {
  const res = await svc.api('/dispatch', { body })
  t.equal(res.status, 400, `400 for ${JSON.stringify(body).slice(0, 80)}`)
  const json = (await res.json()) as { error: { code: string; message: string; details: { fields: { field: string; message: string }[] } } }
  t.equal(json.error.code, 'invalid_request')
  const hit = json.error.details.fields.find((f) => f.field === field)
  t.ok(hit, `error names field ${field}: ${JSON.stringify(json.error.details.fields)}`)
  if (messagePart && hit) t.match(hit.message, messagePart)
  t.match(json.error.message, field)
}

t.test('each validation rule answers 400 naming the field, and nothing is queued', async (t) => {
  await expectFieldError(t, { config_toml: '' }, 'prompt', /required/)
  await expectFieldError(t, { prompt: '', config_toml: '' }, 'prompt')
  await expectFieldError(t, { prompt: 'x' }, 'config_toml', /required/)
  await expectFieldError(t, { prompt: 'x', config_toml: 'model = ' }, 'config_toml', /TOML/)
  await expectFieldError(t, { prompt: 'x', config_toml: '[a]\nb = 1\n[a]\nb = 2' }, 'config_toml', /TOML/)
  await expectFieldError(t, { ...valid, workdir_rel: '../escape' }, 'workdir_rel', /\.\./)
  await expectFieldError(t, { ...valid, workdir_rel: 'a/../../escape' }, 'workdir_rel', /\.\./)
  await expectFieldError(t, { ...valid, workdir_rel: '/etc' }, 'workdir_rel', /relative/)
  await expectFieldError(t, { ...valid, git_repo: 'https://h/r.git', git_branch: 'b', git_clone_dir_rel: '../../x' }, 'git_clone_dir_rel')
  await expectFieldError(t, { ...valid, git_repo: 'https://h/r.git', git_branch: 'b', git_clone_dir_rel: '/abs' }, 'git_clone_dir_rel')
  await expectFieldError(t, { ...valid, conversation_id: 'not-a-uuid' }, 'conversation_id', /UUID/)
  await expectFieldError(t, { ...valid, fork: true }, 'fork', /conversation_id/)
  await expectFieldError(t, { prompt: 42, config_toml: '' }, 'prompt')
  await expectFieldError(t, { ...valid, fork: 'yes' }, 'fork')
  await expectFieldError(t, { ...valid, pre_commands: 'ls' }, 'pre_commands')
  await expectFieldError(t, { ...valid, post_commands: ['ok', 7] }, 'post_commands[1]')
  await expectFieldError(t, { ...valid, timeout_s: 601 }, 'timeout_s')
  await expectFieldError(t, { ...valid, timeout_s: 1.5 }, 'timeout_s')
  await expectFieldError(t, { ...valid, state_key: '../other' }, 'state_key')
  await expectFieldError(t, { ...valid, git_repo: 'https://h/r.git' }, 'git_branch', /required/)
  await expectFieldError(t, { ...valid, git_branch: 'x' }, 'git_repo', /required/)
  await expectFieldError(t, { ...valid, git_repo: 'https://user:secret@h/r.git', git_branch: 'b' }, 'git_repo', /credentials/)
  await expectFieldError(t, { ...valid, git_repo: 'https://h/r.git', git_branch: '-bad..name' }, 'git_branch')
  await expectFieldError(t, { ...valid, git_push: true }, 'git_push')
  await expectFieldError(t, { ...valid, unexpected: 1 }, 'unexpected', /unknown/)
  await expectFieldError(t, [1, 2], 'body')

  const list = (await (await svc.api('/runs')).json()) as { runs: unknown[] }
  t.equal(list.runs.length, 0, 'no run was written for any invalid body')
})

t.test('several bad fields are all named at once', async (t) => {
  const res = await svc.api('/dispatch', { body: { prompt: '', config_toml: 'x =', workdir_rel: '/abs' } })
  t.equal(res.status, 400)
  const json = (await res.json()) as { error: { details: { fields: { field: string }[] } } }
  t.same(new Set(json.error.details.fields.map((f) => f.field)), new Set(['prompt', 'config_toml', 'workdir_rel']))
})

t.test('malformed JSON is 400 invalid_json, never 500', async (t) => {
  const res = await svc.api('/dispatch', { body: '{"prompt": ' })
  t.equal(res.status, 400)
  t.equal(((await res.json()) as { error: { code: string } }).error.code, 'invalid_json')
})

t.test('missing or wrong token is 401 with the envelope; health routes need none', async (t) => {
  const none = await fetch(svc.url + '/runs')
  t.equal(none.status, 401)
  t.match(await none.json(), { error: { code: 'unauthorized', message: /missing token/ } })
  const wrong = await fetch(svc.url + '/runs', { headers: { 'X-Dispatch-Token': 'nope' } })
  t.equal(wrong.status, 401)
  t.match(await wrong.json(), { error: { code: 'unauthorized', message: /invalid token/ } })
  const bearer = await fetch(svc.url + '/runs', { headers: { Authorization: `Bearer ${TEST_TOKEN}` } })
  t.equal(bearer.status, 200, 'Authorization: Bearer is accepted')
  const health = await fetch(svc.url + '/healthz')
  t.equal(health.status, 200)
  t.equal(await health.text(), 'ok')
  const ready = await fetch(svc.url + '/readyz')
  t.equal(ready.status, 200)
  t.match(await ready.json(), { status: 'ready', checks: { postgres: 'ok', runner: /ok/ } })
})

t.test('an oversized body is 413 with the envelope', async (t) => {
  const res = await svc.api('/dispatch', { body: { prompt: 'x'.repeat(8000), config_toml: '' } })
  t.equal(res.status, 413)
  t.match(await res.json(), { error: { code: 'body_too_large' } })
})

t.test('unknown run ids are 404 on every run route', async (t) => {
  for (const id of ['6f1c1f9e-8a53-4a52-9d5d-3c0f7c3b8e11', 'not-a-uuid']) {
    for (const p of ['record', 'log', 'events', 'rollout']) {
      const res = await svc.api(`/runs/${id}/${p}`)
      t.equal(res.status, 404, `${p} of ${id}`)
      t.match(await res.json(), { error: { code: 'not_found' } })
    }
    const cancel = await svc.api(`/runs/${id}/cancel`, { method: 'POST' })
    t.equal(cancel.status, 404)
  }
})

t.test('X-Request-Id is echoed when sane and generated otherwise, also on errors', async (t) => {
  const echoed = await svc.api('/runs', { headers: { 'X-Request-Id': 'abc-123' } })
  t.equal(echoed.headers.get('x-request-id'), 'abc-123')
  const generated = await fetch(svc.url + '/runs')
  t.match(generated.headers.get('x-request-id'), /^[0-9a-f-]{36}$/)
  const insane = await svc.api('/runs', { headers: { 'X-Request-Id': 'a b\tc' } })
  t.not(insane.headers.get('x-request-id'), 'a b\tc')
})

t.test('dispatch queues a run; text/plain gives the one-line form; Idempotency-Key returns the first run', async (t) => {
  const res = await svc.api('/dispatch', { body: valid, headers: { 'Idempotency-Key': 'k-1' } })
  t.equal(res.status, 202)
  const first = (await res.json()) as { run_id: string; status: string; runner: string; links: Record<string, string> }
  t.equal(first.status, 'queued')
  t.equal(first.runner, 'already_running')
  t.equal(first.links.log, `/runs/${first.run_id}/log`)

  const again = (await (await svc.api('/dispatch', { body: valid, headers: { 'Idempotency-Key': 'k-1' } })).json()) as { run_id: string }
  t.equal(again.run_id, first.run_id, 'same key, same run')
  const conflict = await svc.api('/dispatch', { body: { ...valid, prompt: 'other' }, headers: { 'Idempotency-Key': 'k-1' } })
  t.equal(conflict.status, 409, 'same key with another body is refused')

  const text = await svc.api('/dispatch', { body: valid, headers: { Accept: 'text/plain' } })
  t.equal(text.status, 202)
  t.match(await text.text(), /^queued:[0-9a-f-]{36}:runner:already_running\n$/)

  const record = (await (await svc.api(`/runs/${first.run_id}/record`)).json()) as Record<string, unknown>
  t.match(record, { run_id: first.run_id, status: 'queued', state_key: 'default', request: { prompt: 'do it', fork: false, git_base: 'main' } })

  const list = (await (await svc.api('/runs?limit=1')).json()) as { runs: { run_id: string }[]; next_before: string }
  t.equal(list.runs.length, 1)
  const page2 = (await (await svc.api(`/runs?limit=1&before=${list.next_before}`)).json()) as { runs: { run_id: string }[] }
  t.equal(page2.runs.length, 1)
  t.not(page2.runs[0].run_id, list.runs[0].run_id, 'pages do not overlap')
  t.equal((await svc.api('/runs?status=bogus')).status, 400)
  t.equal((await svc.api('/runs?limit=0')).status, 400)

  const canceled = await svc.api(`/runs/${first.run_id}/cancel`, { method: 'POST' })
  t.equal(canceled.status, 200)
  t.match(await canceled.json(), { status: 'canceled', reason: 'canceled' })
  const twice = await svc.api(`/runs/${first.run_id}/cancel`, { method: 'POST' })
  t.equal(twice.status, 409, 'a finished run cannot be canceled again')
})

t.test('secret-looking config values are redacted in the record', async (t) => {
  const res = await svc.api('/dispatch', { body: { prompt: 'p', config_toml: 'api_key = "sk-very-secret"\nmodel = "m"\n' } })
  const { run_id } = (await res.json()) as { run_id: string }
  const record = (await (await svc.api(`/runs/${run_id}/record`)).json()) as { request: { config_toml: string } }
  t.notMatch(record.request.config_toml, /sk-very-secret/)
  t.match(record.request.config_toml, /model = "m"/)
})

t.test('concurrent dispatches with one Idempotency-Key make exactly one run', async (t) => {
  const body = { prompt: 'same request', config_toml: '' }
  const answers = await Promise.all(
    Array.from({ length: 20 }, () => svc.api('/dispatch', { body, headers: { 'Idempotency-Key': 'burst-1' } })),
  )
  t.same([...new Set(answers.map((a) => a.status))], [202])
  const ids = new Set(await Promise.all(answers.map(async (a) => ((await a.json()) as { run_id: string }).run_id)))
  t.equal(ids.size, 1, 'every answer names the same run')
  const rows = await svc.knex('runs').where({ idempotency_key: 'burst-1' })
  t.equal(rows.length, 1, 'one row in the database')
})
