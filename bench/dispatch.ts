/**
 * Dispatch benchmark (issue 2). Prints figures; never part of `npm test`.
 *
 * 1. `POST /dispatch` throughput and latency (p50/p99) at 50 concurrent clients (autocannon),
 *    against the real server process with Postgres local and the scheduler running on the Docker
 *    backend. Goal: >= 1,500 req/s, p99 <= 50 ms.
 * 2. Dispatch-to-container-running latency, median of 20, against a bare create+start (what
 *    `docker run -d` does) of the same image; both timed to the daemon's container `start` event.
 *    Goal: <= 1.3x the bare figure.
 *
 * Run: `npm run bench` (needs the Docker daemon and the local base image, as `npm test` does).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import autocannon from 'autocannon'
import Docker from 'dockerode'
import { freePort, startEmbeddedPostgres } from '../control-plane/src/db/embedded.js'
import { RUN_LABEL } from '../control-plane/src/drivers/docker.js'
import { ensureRunnerImage } from '../test/support/images.js'
import { startModelServer } from '../test/support/model-server.js'
import { mockProviderToml } from '../test/support/e2e.js'

const TOKEN = 'bench-token-0123456789abcdef'
const docker = new Docker()

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

async function main(): Promise<void> {
  if (spawnSync('bash', ['test/support/base-image.sh'], { stdio: 'inherit' }).status !== 0) throw new Error('base image build failed')
  const image = await ensureRunnerImage()
  const model = await startModelServer(() => ({ message: 'done' }))
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cd-bench-'))
  fs.chmodSync(dir, 0o755) // embedded Postgres runs as the postgres user when we are root
  const pg = await startEmbeddedPostgres({ dir: path.join(dir, 'pg', 'cluster') })
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  // BENCH_CPU_PROFILE=<dir> writes a V8 CPU profile of the server process there.
  const profile = process.env.BENCH_CPU_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROFILE}`] : []
  const server: ChildProcess = spawn(process.execPath, [...profile, 'dist/control-plane/src/server.js'], {
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      PORT: String(port),
      DATA_DIR: path.join(dir, 'data'),
      DATABASE_URL: pg.url,
      DISPATCH_TOKEN: TOKEN,
      RUNNER_BACKEND: 'docker',
      RUNNER_IMAGE: image,
      RUNNER_NETWORK: 'host',
      OPENAI_API_KEY: 'sk-bench',
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  const cleanup = async () => {
    server.kill('SIGTERM')
    await new Promise((r) => server.once('exit', r))
    const leftovers = await docker.listContainers({ all: true, filters: { label: [RUN_LABEL] } })
    await Promise.all(leftovers.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => {})))
    await pg.stop()
    await model.close()
    fs.rmSync(dir, { recursive: true, force: true })
  }
  try {
    for (let i = 0; ; i++) {
      if (await fetch(`${url}/readyz`).then((r) => r.ok, () => false)) break
      if (i > 300) throw new Error('server not ready')
      await new Promise((r) => setTimeout(r, 100))
    }
    const config_toml = mockProviderToml(model.url)
    const headers = { 'content-type': 'application/json', 'x-dispatch-token': TOKEN }

    // Phase 2 first, while the queue is empty: dispatch-to-running against bare create+start.
    const starts = new Map<string, number>()
    const events = (await docker.getEvents({ filters: { type: ['container'], event: ['start'] } })) as NodeJS.ReadableStream
    let buf = ''
    events.on('data', (chunk: Buffer) => {
      buf += chunk.toString('utf8')
      let nl: number
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl)
        buf = buf.slice(nl + 1)
        if (!line.trim()) continue
        const ev = JSON.parse(line) as { id: string; Actor?: { Attributes?: Record<string, string> } }
        const key = ev.Actor?.Attributes?.[RUN_LABEL] ?? ev.Actor?.Attributes?.['bench'] ?? ev.id
        starts.set(key, performance.now())
      }
    })
    const waitStart = async (key: string) => {
      for (let i = 0; !starts.has(key); i++) {
        if (i > 6000) throw new Error(`no start event for ${key}`)
        await new Promise((r) => setTimeout(r, 1))
      }
      return starts.get(key)!
    }
    const dispatched: number[] = []
    const bare: number[] = []
    for (let i = 0; i < 20; i++) {
      const t0 = performance.now()
      const res = await fetch(`${url}/dispatch`, { method: 'POST', headers, body: JSON.stringify({ prompt: `latency ${i}`, config_toml, state_key: `lat-${i}` }) })
      const { run_id } = (await res.json()) as { run_id: string }
      dispatched.push((await waitStart(run_id)) - t0)
      // Let it finish so the next dispatch finds a free slot, as in normal operation.
      for (;;) {
        const rec = (await (await fetch(`${url}/runs/${run_id}/record`, { headers })).json()) as { status: string }
        if (['succeeded', 'failed', 'canceled'].includes(rec.status)) break
        await new Promise((r) => setTimeout(r, 50))
      }
      const b0 = performance.now()
      // Same network mode as the runners (host in this bench), so only the dispatch path differs.
      const c = await docker.createContainer({ Image: image, Entrypoint: ['true'], Labels: { bench: `bare-${i}` }, HostConfig: { NetworkMode: 'host' } })
      await c.start()
      bare.push((await waitStart(`bare-${i}`)) - b0)
      await c.remove({ force: true })
    }
    ;(events as unknown as { destroy(): void }).destroy()
    const dMed = median(dispatched)
    const bMed = median(bare)
    console.log('dispatch-to-container-running (median of 20, to the daemon start event)')
    console.log(`  via POST /dispatch: ${dMed.toFixed(1)} ms   bare create+start: ${bMed.toFixed(1)} ms   ratio ${(dMed / bMed).toFixed(2)}x (goal <= 1.30x)`)

    // Phase 1: dispatch throughput at 50 concurrent clients, scheduler running.
    const result = await autocannon({
      url: `${url}/dispatch`,
      method: 'POST',
      connections: 50,
      duration: 10,
      headers,
      body: JSON.stringify({ prompt: 'throughput', config_toml, state_key: 'throughput' }),
    })
    const lat = result.latency
    console.log('POST /dispatch at 50 concurrent clients for 10 s (scheduler running, Postgres local)')
    console.log(
      `  ${result.requests.average.toFixed(0)} req/s average, ${result.requests.total} requests, ` +
        `non-2xx ${result.non2xx}, errors ${result.errors}; latency p50 ${lat.p50} ms, p99 ${lat.p99} ms, max ${lat.max} ms ` +
        `(goal >= 1500 req/s, p99 <= 50 ms)`,
    )
  } finally {
    await cleanup()
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
