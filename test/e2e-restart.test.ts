// The control plane is killed (SIGKILL) in the middle of runs and started again: every run still
// ends exactly once with its result, and no run is executed twice (SPEC section 3).
import t from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import Docker from 'dockerode'
import { freePort } from '../control-plane/src/db/embedded.js'
import { containerName } from '../control-plane/src/drivers/docker.js'
import { createTestDatabase } from './support/db.js'
import { ensureRunnerImage } from './support/images.js'
import { startModelServer } from './support/model-server.js'
import { mockProviderToml, scriptByMarker, waitForStatus } from './support/e2e.js'
import { TEST_TOKEN, apiClient } from './support/service.js'

const docker = new Docker()
const image = await ensureRunnerImage()
const model = await startModelServer(
  scriptByMarker({
    nap: { cmds: ['echo napping', 'sleep 6', 'echo awake > woke.txt'], message: 'Rested.' },
    longnap: { cmds: ['sleep 300'], message: 'Never.' },
  }),
)
const db = await createTestDatabase()
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cd-restart-'))
const port = await freePort()
const url = `http://127.0.0.1:${port}`
t.teardown(async () => {
  await model.close()
  await db.drop()
})

const serverMain = path.resolve('dist/control-plane/src/server.js')
let server: ChildProcess | null = null

/** Starts the real server process and waits for /readyz. */
async function startServer(): Promise<void> {
  if (server) await killServer() // left over by a failed test
  const child = spawn(process.execPath, [serverMain], {
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      PORT: String(port),
      DATA_DIR: dataDir,
      DATABASE_URL: db.url,
      DISPATCH_TOKEN: TEST_TOKEN,
      RUNNER_BACKEND: 'docker',
      RUNNER_IMAGE: image,
      RUNNER_NETWORK: 'host',
      OPENAI_API_KEY: 'sk-restart-test-key',
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  server = child
  const deadline = Date.now() + 30_000
  for (;;) {
    const ok = await fetch(`${url}/readyz`).then((r) => r.ok, () => false)
    if (ok) return
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`)
    if (Date.now() > deadline) throw new Error('server not ready after 30 s')
    await new Promise((r) => setTimeout(r, 100))
  }
}

async function killServer(): Promise<void> {
  const child = server!
  server = null
  const exited = new Promise((r) => child.once('exit', r))
  child.kill('SIGKILL')
  await exited
}
t.teardown(async () => {
  if (server) await killServer()
})

const client = apiClient(url)

async function dispatch(marker: string, stateKey: string): Promise<string> {
  const res = await client.api('/dispatch', { body: { prompt: `[[e2e:${marker}]]`, config_toml: mockProviderToml(model.url), state_key: stateKey } })
  if (res.status !== 202) throw new Error(`dispatch: ${res.status} ${await res.text()}`)
  return ((await res.json()) as { run_id: string }).run_id
}

async function waitForLog(runId: string, pattern: RegExp): Promise<void> {
  const file = path.join(dataDir, 'runs', runId, 'run.log')
  const deadline = Date.now() + 60_000
  while (!(fs.existsSync(file) && pattern.test(fs.readFileSync(file, 'utf8')))) {
    if (Date.now() > deadline) throw new Error(`run ${runId} log never matched ${pattern}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

/** How many model requests a marker's runs made (each Codex turn step is one request). */
const requestsFor = (marker: string) =>
  model.requests.filter((r) => JSON.stringify(r.input ?? []).includes(`[[e2e:${marker}]]`)).length

const count = (text: string, re: RegExp) => (text.match(re) ?? []).length

t.test('killed while a runner is live: the restarted control plane re-attaches and collects it once', async (t) => {
  await startServer()
  const runId = await dispatch('nap', 'restart-a')
  await waitForLog(runId, /'sleep 6'/)
  await killServer()
  const info = await docker.getContainer(containerName(runId)).inspect()
  t.ok(info.State.Running, 'the runner keeps running while the control plane is down')
  await startServer()
  const rec = await waitForStatus(client, runId, ['succeeded', 'failed', 'canceled'], 90_000)
  t.equal(rec.status, 'succeeded', `ended with its result (${rec.reason}: ${rec.message})`)
  t.equal(rec.summary, 'Rested.')
  const log = fs.readFileSync(path.join(dataDir, 'runs', runId, 'run.log'), 'utf8')
  t.equal(count(log, /"type":"runner\.started"/g), 1, 'the runner started once')
  t.equal(count(log, /"type":"dispatcher\.run\.finished"/g), 1, 'the run finished once')
  t.equal(requestsFor('nap'), 4, 'the model saw one agent turn (3 tool calls + final message), not two')
  t.equal(fs.readFileSync(path.join(dataDir, 'workdir', 'restart-a', 'woke.txt'), 'utf8'), 'awake\n')
  await killServer()
})

t.test('killed and the runner exits while it is down: the restart collects the exited container', async (t) => {
  await startServer()
  const before = requestsFor('nap')
  const runId = await dispatch('nap', 'restart-b')
  await waitForLog(runId, /'sleep 6'/)
  await killServer()
  const exit = (await docker.getContainer(containerName(runId)).wait()) as { StatusCode: number }
  t.equal(exit.StatusCode, 0, 'the runner finished on its own')
  const row = (await (await fetch(`${url}/healthz`).catch(() => null))?.text()) ?? null
  t.equal(row, null, 'the control plane is really down')
  await startServer()
  const rec = await waitForStatus(client, runId, ['succeeded', 'failed', 'canceled'], 60_000)
  t.equal(rec.status, 'succeeded')
  t.equal(rec.exit_code, 0)
  t.equal(requestsFor('nap') - before, 4, 'executed once')
  const gone = await docker.getContainer(containerName(runId)).inspect().then(() => false, () => true)
  t.ok(gone, 'the collected container is removed')
  await killServer()
})

t.test('killed and the runner vanishes while it is down: the run fails with a clear reason, once', async (t) => {
  await startServer()
  const runId = await dispatch('longnap', 'restart-c')
  await waitForLog(runId, /'sleep 300'/)
  await killServer()
  await docker.getContainer(containerName(runId)).remove({ force: true })
  await startServer()
  const rec = await waitForStatus(client, runId, ['succeeded', 'failed', 'canceled'], 60_000)
  t.equal(rec.status, 'failed')
  t.equal(rec.reason, 'runner_vanished')
  t.match(rec.message, /disappeared/)
  const next = await dispatch('nap', 'restart-c')
  const rec2 = await waitForStatus(client, next, ['succeeded', 'failed', 'canceled'], 90_000)
  t.equal(rec2.status, 'succeeded', 'the state key is free again for the next run')
  await killServer()
})
