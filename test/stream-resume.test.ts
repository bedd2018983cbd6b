// GET /runs/:id/stream on runs that really execute (process backend, the real Codex CLI against the
// scripted model server): lines as they are written, resume across a disconnect with
// Last-Event-ID without loss or duplication, a heartbeat comment, and the final `end` event.
import fs from 'node:fs'
import t from 'tap'
import { ApiClient, type StreamMessage } from '../control-plane/src/cli/client.js'
import { startModelServer, toolsThenMessage } from './support/model-server.js'
import { startTestService, TEST_TOKEN } from './support/service.js'

const model = await startModelServer(toolsThenMessage(['for i in $(seq 1 6); do echo agent-line-$i; sleep 0.2; done'], 'All done.'))
t.teardown(() => model.close())
const svc = await startTestService(t, { OPENAI_API_KEY: 'sk-test-stream' })
const CONFIG = `model_provider = "mock"\nmodel = "mock-model"\n[model_providers.mock]\nname = "mock"\nbase_url = "${model.url}"\nenv_key = "OPENAI_API_KEY"\nwire_api = "responses"\n`
const api = new ApiClient(svc.url, TEST_TOKEN)

async function dispatch(body: Record<string, unknown>): Promise<string> {
  const res = await svc.api('/dispatch', { body: { config_toml: CONFIG, ...body } })
  t.equal(res.status, 202)
  return ((await res.json()) as { run_id: string }).run_id
}

t.test('a stream resumed with Last-Event-ID after a disconnect loses and repeats nothing', async (t) => {
  const id = await dispatch({
    prompt: 'count',
    pre_commands: ['for i in $(seq 1 25); do echo pre-line-$i; sleep 0.1; done'],
  })
  const first: StreamMessage[] = []
  const abort = new AbortController()
  for await (const m of api.stream(id, { signal: abort.signal })) {
    first.push(m)
    if (first.filter((x) => x.data.includes('pre-line-')).length >= 5) {
      abort.abort() // the client goes away mid-run
      break
    }
  }
  const resumeAt = first[first.length - 1].id
  t.ok(resumeAt > 0, 'the last id is a byte offset')
  const res = await fetch(`${svc.url}/runs/${id}/stream`, { headers: { 'X-Dispatch-Token': TEST_TOKEN, 'Last-Event-ID': String(resumeAt) } })
  t.equal(res.headers.get('content-type')?.split(';')[0], 'text/event-stream')
  t.equal(res.headers.get('x-accel-buffering'), 'no')
  await res.body?.cancel()

  const rest: StreamMessage[] = []
  for await (const m of api.stream(id, { from: resumeAt })) rest.push(m)
  const end = rest.pop()!
  t.equal(end.event, 'end')
  t.same(JSON.parse(end.data), { status: 'succeeded', reason: null })

  const all = [...first, ...rest]
  const logText = fs.readFileSync(`${svc.dataDir}/runs/${id}/run.log`, 'utf8')
  t.same(all.map((m) => m.data), logText.trimEnd().split('\n'), 'the two connections together are the log, each line once, in order')
  let offset = 0
  for (const m of all) {
    offset += Buffer.byteLength(m.data) + 1
    if (m.id !== offset) {
      t.fail(`id ${m.id} is not the byte offset ${offset} after its line`)
      break
    }
  }
  t.equal(end.id, Buffer.byteLength(logText), 'end carries the final offset')
  t.ok(all.some((m) => m.event === 'event' && JSON.parse(m.data).type === 'dispatcher.run.finished'), 'the final scheduler line is streamed before end')
  t.ok(all.some((m) => m.data.includes('agent-line-6')), "the agent's command output arrived")

  const again: StreamMessage[] = []
  for await (const m of api.stream(id, { from: Buffer.byteLength(logText) })) again.push(m)
  t.same(again.map((m) => m.event), ['end'], 'resuming at the end gives just the end event')
})

t.test('lines arrive while the run is still writing them', async (t) => {
  const id = await dispatch({ prompt: 'slow', pre_commands: ['for i in $(seq 1 4); do echo tick-$i; sleep 1; done'] })
  const seen: Array<{ line: string; at: number }> = []
  for await (const m of api.stream(id)) {
    if (m.event === 'event' && JSON.parse(m.data).type === 'runner.command.output') seen.push({ line: JSON.parse(m.data).line, at: Date.now() })
    if (m.event === 'end') break
  }
  t.same(seen.map((s) => s.line), ['tick-1', 'tick-2', 'tick-3', 'tick-4'])
  t.ok(seen[3].at - seen[0].at >= 2500, 'they were delivered over time, not at the end')
})

t.test('a failing run ends with status failed; an idle stream gets heartbeat comments', async (t) => {
  const id = await dispatch({ prompt: 'fail', pre_commands: ['sleep 16.5', 'exit 3'] })
  const res = await fetch(`${svc.url}/runs/${id}/stream`, { headers: { 'X-Dispatch-Token': TEST_TOKEN } })
  let raw = ''
  const decoder = new TextDecoder()
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) raw += decoder.decode(chunk, { stream: true })
  t.match(raw, /^:[^\n]*\n\n/m, 'a comment line (heartbeat) during the 16 s of silence')
  const endBlock = raw.split('\n\n').find((b) => /^event: ?end$/m.test(b))
  t.ok(endBlock, 'an end event')
  t.equal(JSON.parse(/^data: ?(.*)$/m.exec(endBlock ?? '')?.[1] ?? '{}').status, 'failed')
})

t.test('an unknown run is 404 and a missing token 401, as JSON', async (t) => {
  const unknown = await svc.api('/runs/00000000-0000-4000-8000-000000000000/stream')
  t.equal(unknown.status, 404)
  t.equal(((await unknown.json()) as { error: { code: string } }).error.code, 'not_found')
  const anon = await fetch(`${svc.url}/runs/00000000-0000-4000-8000-000000000000/stream`)
  t.equal(anon.status, 401)
})
