// GET /metrics changes as runs move (runs by status, queue depth, claim latency, run duration, HTTP
// histogram by route and status), and the JSON request logs carry request ids and never the token.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import t from 'tap'
import { loadConfig } from '../control-plane/src/config.js'
import { LOG_REDACT_PATHS } from '../control-plane/src/http/logging.js'
import { startService } from '../control-plane/src/runtime.js'
import { createTestDatabase } from './support/db.js'

const TOKEN = 'metrics-test-token-5f1e9a7c2b'
const lines: string[] = []
const sink = new Writable({
  write(chunk, _enc, done) {
    lines.push(...chunk.toString('utf8').split('\n').filter(Boolean))
    done()
  },
})
const db = await createTestDatabase()
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cd-metrics-'))
const config = loadConfig({
  PORT: '0', DATA_DIR: dataDir, DATABASE_URL: db.url, DISPATCH_TOKEN: TOKEN, RUNNER_BACKEND: 'process',
  POLL_INTERVAL_MS: '500', PATH: process.env.PATH, HOME: process.env.HOME,
})
const svc = await startService(config, pino({ level: 'info', redact: LOG_REDACT_PATHS }, sink))
t.teardown(async () => {
  await svc.stop()
  await db.drop()
  fs.rmSync(dataDir, { recursive: true, force: true })
})
const api = (p: string, init: RequestInit = {}) =>
  fetch(svc.url + p, { ...init, headers: { 'X-Dispatch-Token': TOKEN, 'Content-Type': 'application/json', ...(init.headers as object) } })

/** `name{labels} value` samples of the exposition text. */
async function scrape(): Promise<Map<string, number>> {
  const res = await api('/metrics')
  t.equal(res.status, 200)
  t.match(res.headers.get('content-type') ?? '', /^text\/plain/)
  const out = new Map<string, number>()
  for (const line of (await res.text()).split('\n')) {
    const m = /^([a-z_]+(?:\{[^}]*\})?) (\S+)$/.exec(line)
    if (m) out.set(m[1], Number(m[2]))
  }
  return out
}

async function waitStatus(id: string, status: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    const r = (await (await api(`/runs/${id}/record`)).json()) as { status: string }
    if (r.status === status) return
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`run ${id} never became ${status}`)
}

t.test('metrics follow runs through queued, running and final statuses', async (t) => {
  const anon = await fetch(`${svc.url}/metrics`)
  t.equal(anon.status, 401, 'metrics need the token')
  const before = await scrape()
  t.equal(before.get('codex_dispatcher_runs{status="running"}'), 0)
  t.equal(before.get('codex_dispatcher_queue_depth'), 0)

  const body = (prompt: string) => JSON.stringify({ prompt, config_toml: '', state_key: 'same', pre_commands: ['sleep 2', 'exit 4'] })
  const a = ((await (await api('/dispatch', { method: 'POST', body: body('a') })).json()) as { run_id: string }).run_id
  const b = ((await (await api('/dispatch', { method: 'POST', body: body('b') })).json()) as { run_id: string }).run_id
  await waitStatus(a, 'running')
  const during = await scrape()
  t.equal(during.get('codex_dispatcher_runs{status="running"}'), 1)
  t.equal(during.get('codex_dispatcher_runs{status="queued"}'), 1, 'b waits for a (same state key)')
  t.equal(during.get('codex_dispatcher_queue_depth'), 1)

  await waitStatus(a, 'failed')
  await api(`/runs/${b}/cancel`, { method: 'POST' })
  await waitStatus(b, 'canceled')
  const after = await scrape()
  t.equal(after.get('codex_dispatcher_runs{status="failed"}'), 1)
  t.equal(after.get('codex_dispatcher_runs{status="running"}'), 0)
  t.equal(after.get('codex_dispatcher_queue_depth'), 0)
  t.equal(after.get('codex_dispatcher_claim_latency_seconds_count'), 2, 'both runs were claimed (b once a had ended)')
  t.ok((after.get('codex_dispatcher_claim_latency_seconds_sum') ?? 0) >= 2, "b's claim waited for a's 2 s run")
  t.equal(after.get('codex_dispatcher_run_duration_seconds_count{status="failed"}'), 1)
  t.ok((after.get('codex_dispatcher_run_duration_seconds_sum{status="failed"}') ?? 0) >= 2, 'the failed run took its 2 s sleep')
  t.equal(after.get('codex_dispatcher_runs_finished_total{status="failed",reason="pre_command_failed"}'), 1)
  t.equal(after.get('codex_dispatcher_http_request_duration_seconds_count{method="POST",route="/dispatch",status="202"}'), 2)
  t.ok((after.get('codex_dispatcher_http_request_duration_seconds_count{method="GET",route="/runs/:id/record",status="200"}') ?? 0) >= 2,
    'routes are labeled by template, not by id')
  // The token check answers before routing, so rejected requests share one label.
  t.equal(after.get('codex_dispatcher_http_request_duration_seconds_count{method="GET",route="unmatched",status="401"}'), 1)
  t.notOk([...after.keys()].some((k) => k.includes(a)), 'no run id in any label')
})

t.test('every request line carries its request id; the token never appears in the logs', async (t) => {
  const res = await api('/runs?limit=5', { headers: { 'X-Request-Id': 'req-trace-42', Authorization: `Bearer ${TOKEN}` } })
  t.equal(res.status, 200)
  await api('/runs/00000000-0000-4000-8000-000000000000/record', { headers: { 'X-Request-Id': 'req-missing-1' } })
  await fetch(`${svc.url}/runs?token=${TOKEN}`, { headers: { 'X-Request-Id': 'req-bad-token', 'X-Dispatch-Token': `${TOKEN}x` } })
  await api('/dispatch', { method: 'POST', body: JSON.stringify({ prompt: 'x', config_toml: 'api_key = "sk-in-body-secret"', pre_commands: ['true'] }), headers: { 'X-Request-Id': 'req-dispatch' } })
  await new Promise((r) => setTimeout(r, 200))
  const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>)
  const requestLines = parsed.filter((l) => l.msg === 'request')
  t.ok(requestLines.length > 10)
  t.ok(requestLines.every((l) => typeof l.request_id === 'string' && (l.request_id as string).length > 0), 'every request line has a request id')
  const traced = requestLines.find((l) => l.request_id === 'req-trace-42')
  t.match(traced, { method: 'GET', path: '/runs', route: '/runs', status: 200 })
  t.match(requestLines.find((l) => l.request_id === 'req-missing-1'), { status: 404, level: 40 })
  t.match(requestLines.find((l) => l.request_id === 'req-bad-token'), { status: 401 })
  t.ok(requestLines.find((l) => l.request_id === 'req-dispatch'))
  const all = lines.join('\n')
  t.notOk(all.includes(TOKEN), 'the token is in no log line (headers, query or body)')
  t.notOk(all.includes('sk-in-body-secret'), 'nor a secret from a request body')
})
