import t from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import { startTestService } from './support/service.js'

const svc = await startTestService(t, { LOG_READ_MAX_BYTES: '4096' })
await svc.scheduler!.stop()

/** A run row marked running with a log we write ourselves, byte by byte. */
async function runWithLog(content: Buffer | string): Promise<{ id: string; file: string }> {
  const [row] = await svc
    .knex('runs')
    .insert({ state_key: `s-${Math.random().toString(36).slice(2)}`, prompt: 'p', config_toml: '', request: JSON.stringify({}), timeout_s: 60, status: 'running', started_at: new Date() })
    .returning('id')
  const id = (row as { id: string }).id
  const dir = path.join(svc.dataDir, 'runs', id)
  fs.mkdirSync(dir, { recursive: true })
  const file = path.join(dir, 'run.log')
  fs.writeFileSync(file, content)
  return { id, file }
}

const get = async (p: string) => {
  const res = await svc.api(p)
  return { status: res.status, body: (await res.json()) as Record<string, unknown> & { content: string; offset: number; next_offset: number; size: number; eof: boolean; events?: unknown[] } }
}

t.test('log windows follow offsets and report size; eof only after the run ended', async (t) => {
  const { id, file } = await runWithLog('line one\nline two\n')
  const w1 = (await get(`/runs/${id}/log?offset=0&max_bytes=5`)).body
  t.match(w1, { offset: 0, next_offset: 5, size: 18, eof: false, content: 'line ' })
  const w2 = (await get(`/runs/${id}/log?offset=${w1.next_offset}&max_bytes=100`)).body
  t.match(w2, { offset: 5, next_offset: 18, size: 18, eof: false, content: 'one\nline two\n' })
  t.equal(w2.eof, false, 'at the end of the file but the run is still running: not eof')
  const past = (await get(`/runs/${id}/log?offset=1000`)).body
  t.match(past, { next_offset: 18, content: '' }, 'an offset past the end reads nothing')

  fs.appendFileSync(file, 'line three\n')
  const w3 = (await get(`/runs/${id}/log?offset=18`)).body
  t.match(w3, { content: 'line three\n', size: 29, eof: false }, 'a growing file is read from where the client left off')

  await svc.knex('runs').where({ id }).update({ status: 'succeeded', finished_at: new Date() })
  const mid = (await get(`/runs/${id}/log?offset=0&max_bytes=4`)).body
  t.equal(mid.eof, false, 'ended run but the window does not reach the end: not eof')
  const end = (await get(`/runs/${id}/log?offset=0`)).body
  t.match(end, { next_offset: 29, size: 29, eof: true })
})

t.test('max_bytes is capped by the server and validated', async (t) => {
  const { id } = await runWithLog('x'.repeat(10_000))
  const w = (await get(`/runs/${id}/log?offset=0&max_bytes=1000000`)).body
  t.equal(w.content.length, 4096, 'capped at LOG_READ_MAX_BYTES')
  t.equal((await svc.api(`/runs/${id}/log?offset=-1`)).status, 400)
  t.equal((await svc.api(`/runs/${id}/log?max_bytes=0`)).status, 400)
  const bad = await get(`/runs/${id}/log?offset=abc`)
  t.equal(bad.status, 400)
  t.match(bad.body, { error: { details: { fields: [{ field: 'offset' }] } } })
})

t.test('multi-byte UTF-8 characters are never split by a window', async (t) => {
  const text = 'aé€😀b\n' // 1 + 2 + 3 + 4 + 1 + 1 bytes
  const { id } = await runWithLog(text)
  const total = Buffer.byteLength(text)
  let offset = 0
  let joined = ''
  for (let max = 1; offset < total; ) {
    const w = (await get(`/runs/${id}/log?offset=${offset}&max_bytes=${max}`)).body
    t.notMatch(w.content, /\uFFFD/, `no replacement character at offset ${offset} max ${max}`)
    if (w.next_offset === offset) {
      max++ // a character longer than the window: the client asks for more
      continue
    }
    joined += w.content
    offset = w.next_offset
    max = 1
  }
  t.equal(joined, text, 'windows of one byte upward reassemble the exact text')
  const inside = (await get(`/runs/${id}/log?offset=2&max_bytes=100`)).body
  t.equal(inside.offset, 3, 'an offset inside a character moves forward to the next character')
  t.equal(inside.content, '€😀b\n')
})

t.test('events: JSON lines parsed; a line cut by the window is held back for the next call', async (t) => {
  const lines = [
    { type: 'thread.started', thread_id: 'th-1' },
    { type: 'turn.started' },
    { type: 'item.completed', item: { type: 'agent_message', text: 'héllo' } },
  ].map((e) => JSON.stringify(e) + '\n')
  const { id, file } = await runWithLog(lines[0] + lines[1] + lines[2].slice(0, 10))
  const cut = Buffer.byteLength(lines[0]) + 5
  const w1 = (await get(`/runs/${id}/events?offset=0&max_bytes=${cut}`)).body
  t.same(w1.events, [{ type: 'thread.started', thread_id: 'th-1' }])
  t.equal(w1.next_offset, Buffer.byteLength(lines[0]), 'next_offset stops before the cut line')
  const w2 = (await get(`/runs/${id}/events?offset=${w1.next_offset}`)).body
  t.same(w2.events, [{ type: 'turn.started' }], 'the partial third line (still being written) is not served')
  t.equal(w2.eof, false)
  fs.appendFileSync(file, lines[2].slice(10))
  const w3 = (await get(`/runs/${id}/events?offset=${w2.next_offset}`)).body
  t.same(w3.events, [{ type: 'item.completed', item: { type: 'agent_message', text: 'héllo' } }], 'once complete it is served whole')

  const long = JSON.stringify({ type: 'big', pad: 'y'.repeat(2000) }) + '\n'
  fs.appendFileSync(file, long)
  const w4 = (await get(`/runs/${id}/events?offset=${w3.next_offset}&max_bytes=100`)).body
  t.equal((w4.events![0] as { type: string }).type, 'big', 'a line longer than max_bytes is still delivered whole (up to the hard cap)')

  await svc.knex('runs').where({ id }).update({ status: 'failed', finished_at: new Date() })
  fs.appendFileSync(file, '{"type":"no-newline-at-end"}')
  const w5 = (await get(`/runs/${id}/events?offset=${w4.next_offset}`)).body
  t.same(w5.events, [{ type: 'no-newline-at-end' }], 'after the run ended a final unterminated line counts')
  t.equal(w5.eof, true)
})

t.test('rollout is 404 until thread.started names a rollout that exists', async (t) => {
  const { id, file } = await runWithLog('{"type":"runner.started"}\n')
  const none = await svc.api(`/runs/${id}/rollout`)
  t.equal(none.status, 404)
  t.match(await none.json(), { error: { code: 'rollout_not_available' } })
  const threadId = '0199a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b'
  fs.appendFileSync(file, JSON.stringify({ type: 'thread.started', thread_id: threadId }) + '\n')
  const row = await svc.knex('runs').where({ id }).first()
  const dir = path.join(svc.dataDir, 'codex_home', row.state_key, 'sessions', '2026', '11', '22')
  fs.mkdirSync(dir, { recursive: true })
  fs.writeFileSync(path.join(dir, `rollout-2026-11-22T03-00-00-${threadId}.jsonl`), '{"type":"session_meta"}\n')
  const w = (await get(`/runs/${id}/rollout`)).body
  t.match(w, { thread_id: threadId, rollout_path: `sessions/2026/11/22/rollout-2026-11-22T03-00-00-${threadId}.jsonl`, content: '{"type":"session_meta"}\n', eof: false })
})
