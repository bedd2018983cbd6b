/**
 * Latency of `GET /runs/:id/stream`: from a line being appended to a run's log (by a separate
 * writer process, as a runner would) to an SSE client receiving it. Prints p50/p90/p99/max in ms.
 *
 *   npm run build && node dist/bench/stream-latency.js [--lines 600] [--interval-ms 10] [--burst 5] [--clients 4]
 *
 * Uses BENCH_DATABASE_URL when set, else an embedded Postgres in a temp directory. The service runs
 * without a runner backend: the bench queues and claims one run itself and plays its runner.
 */
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { pino } from 'pino'
import { ApiClient } from '../control-plane/src/cli/client.js'
import { loadConfig } from '../control-plane/src/config.js'
import { claimNextRun, finishRun, insertRun } from '../control-plane/src/queue/store.js'
import { startService } from '../control-plane/src/runtime.js'

const { values } = parseArgs({
  options: {
    lines: { type: 'string', default: '600' },
    'interval-ms': { type: 'string', default: '10' },
    burst: { type: 'string', default: '5' },
    clients: { type: 'string', default: '4' },
  },
})
const LINES = Number(values.lines)
const INTERVAL_MS = Number(values['interval-ms'])
const BURST = Number(values.burst)
const CLIENTS = Number(values.clients)
const TOKEN = 'bench-token-0123456789abcdef'

/** Writer: every INTERVAL_MS appends BURST JSON lines stamped with the epoch time in ms (µs precision). */
const WRITER = `
const fs = require('node:fs')
const [file, lines, interval, burst] = [process.argv[1], +process.argv[2], +process.argv[3], +process.argv[4]]
const now = () => performance.timeOrigin + performance.now()
let n = 0
const tick = () => {
  for (let i = 0; i < burst && n < lines; i++, n++) fs.appendFileSync(file, JSON.stringify({ type: 'bench.line', n, written_at: now(), pad: 'x'.repeat(120) }) + '\\n')
  if (n < lines) setTimeout(tick, interval)
}
tick()
`

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]
}

async function main(): Promise<void> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cd-bench-stream-'))
  const config = loadConfig({
    PORT: '0',
    DATA_DIR: dataDir,
    DATABASE_URL: process.env.BENCH_DATABASE_URL,
    DISPATCH_TOKEN: TOKEN,
    RUNNER_BACKEND: 'auto',
    DOCKER_SOCKET: path.join(dataDir, 'no-docker.sock'),
  })
  const svc = await startService(config, pino({ level: 'silent' }))
  try {
    const { run } = await insertRun(svc.knex, {
      state_key: 'bench', prompt: 'bench', config_toml: '', timeout_s: 3600, idempotency_key: null, request_hash: null,
      request: { workdir_rel: null, model: null, conversation_id: null, fork: false, pre_commands: [], post_commands: [], git_repo: null, git_branch: null, git_base: 'main', git_clone_dir_rel: 'repo', git_push: false },
    })
    const claimed = await claimNextRun(svc.knex, 'bench')
    if (claimed?.id !== run.id) throw new Error('the bench could not claim its run')
    const logFile = svc.layout.runLog(run.id)
    fs.mkdirSync(path.dirname(logFile), { recursive: true })
    fs.writeFileSync(logFile, '')

    const api = new ApiClient(svc.url, TOKEN)
    const latencies: number[] = []
    const clients = Array.from({ length: CLIENTS }, async () => {
      let seen = 0
      for await (const m of api.stream(run.id)) {
        if (m.event === 'end') break
        const ev = JSON.parse(m.data) as { type: string; written_at?: number }
        if (ev.type !== 'bench.line') continue
        latencies.push(performance.timeOrigin + performance.now() - ev.written_at!)
        seen++
      }
      return seen
    })
    await new Promise((r) => setTimeout(r, 300)) // let the clients connect and start watching
    const started = Date.now()
    const writer = spawn(process.execPath, ['-e', WRITER, logFile, String(LINES), String(INTERVAL_MS), String(BURST)], { stdio: 'inherit' })
    await new Promise((r) => writer.on('exit', r))
    const writeSeconds = (Date.now() - started) / 1000
    await finishRun(svc.knex, run.id, { status: 'succeeded', exit_code: 0, reason: null, message: null })
    fs.appendFileSync(logFile, JSON.stringify({ type: 'dispatcher.run.finished', status: 'succeeded' }) + '\n')
    const seen = await Promise.all(clients)

    latencies.sort((a, b) => a - b)
    const f = (ms: number) => ms.toFixed(1).padStart(7)
    console.log(`stream latency: ${LINES} lines in bursts of ${BURST} every ${INTERVAL_MS} ms over ${writeSeconds.toFixed(1)} s, ${CLIENTS} SSE clients`)
    console.log(`  received ${latencies.length} of ${LINES * CLIENTS} (${seen.join('/')} per client)`)
    console.log(`  line written -> client received (ms): p50 ${f(percentile(latencies, 50))}  p90 ${f(percentile(latencies, 90))}  p99 ${f(percentile(latencies, 99))}  max ${f(latencies[latencies.length - 1])}`)
    console.log(`  goal p99 <= 100 ms: ${percentile(latencies, 99) <= 100 ? 'met' : 'NOT met'}`)
    if (latencies.length !== LINES * CLIENTS) process.exitCode = 1
  } finally {
    await svc.stop()
    fs.rmSync(dataDir, { recursive: true, force: true })
  }
}

await main()
