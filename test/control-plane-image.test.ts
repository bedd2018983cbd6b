// The control-plane image as production runs it (control-plane/Dockerfile, staged by
// control-plane/stage.mjs): non-root, Docker socket and DATA_DIR mounted at the same path,
// configured through the environment the Pulumi program writes. It reaches Postgres, starts
// runner containers through the socket, and a dispatched run succeeds.
import t from 'tap'
import crypto from 'node:crypto'
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import Docker from 'dockerode'
// @ts-expect-error the staging script is plain ESM without type declarations
import { stageControlPlaneContext } from '../control-plane/stage.mjs'
import { freePort } from '../control-plane/src/db/embedded.js'
import { createTestDatabase } from './support/db.js'
import { ensureRunnerImage, TEST_BASE_IMAGE } from './support/images.js'
import { startModelServer } from './support/model-server.js'
import { mockProviderToml, waitForStatus } from './support/e2e.js'
import { TEST_TOKEN, apiClient } from './support/service.js'

const docker = new Docker()
const tag = 'codex-dispatcher-control-plane:test'
const runnerImage = await ensureRunnerImage()
const context = fs.mkdtempSync(path.join(os.tmpdir(), 'cp-context-'))
stageControlPlaneContext(path.join(context, 'ctx'))
execFileSync('docker', ['build', '--quiet', '--build-arg', `BASE_IMAGE=${TEST_BASE_IMAGE}`, '--tag', tag, path.join(context, 'ctx')], {
  stdio: ['ignore', 'ignore', 'inherit'],
})
fs.rmSync(context, { recursive: true, force: true })

const model = await startModelServer(() => ({ message: 'ran from the containerized control plane' }))
const db = await createTestDatabase()
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cp-image-data-'))
fs.chmodSync(dataDir, 0o755)
fs.chownSync(dataDir, 1000, 1000)
const port = await freePort()
const url = `http://127.0.0.1:${port}`
const name = `cp-test-${crypto.randomBytes(4).toString('hex')}`
const socketGid = fs.statSync('/var/run/docker.sock').gid

const container = await docker.createContainer({
  name,
  Image: tag,
  Env: [
    `PORT=${port}`,
    `DATABASE_URL=${db.url}`,
    `DATA_DIR=${dataDir}`,
    `DISPATCH_TOKEN=${TEST_TOKEN}`,
    'RUNNER_BACKEND=docker',
    `RUNNER_IMAGE=${runnerImage}`,
    'RUNNER_NETWORK=host',
    'OPENAI_API_KEY=sk-cp-image-test',
  ],
  HostConfig: {
    NetworkMode: 'host',
    GroupAdd: [String(socketGid)],
    Binds: ['/var/run/docker.sock:/var/run/docker.sock', `${dataDir}:${dataDir}`],
    SecurityOpt: ['no-new-privileges'],
  },
})
t.teardown(async () => {
  await container.remove({ force: true }).catch(() => {})
  await model.close()
  await db.drop()
  fs.rmSync(dataDir, { recursive: true, force: true })
})
await container.start()

const client = apiClient(url)

t.test('the image runs as a non-root user and becomes ready and healthy', async (t) => {
  const info = await container.inspect()
  t.equal(info.Config.User, '1000:1000')
  const deadline = Date.now() + 60_000
  let ready = 0
  while (Date.now() < deadline) {
    ready = await fetch(`${url}/readyz`).then((r) => r.status, () => 0)
    if (ready === 200) break
    await new Promise((r) => setTimeout(r, 250))
  }
  if (ready !== 200) {
    const logs = (await container.logs({ stdout: true, stderr: true })).toString('utf8')
    t.comment(`control-plane container log:\n${logs}`)
  }
  t.equal(ready, 200, 'readyz: Postgres and the runner backend (Docker through the mounted socket) answer')
  let health = ''
  while (Date.now() < deadline + 30_000) {
    health = (await container.inspect()).State.Health?.Status ?? ''
    if (health === 'healthy') break
    await new Promise((r) => setTimeout(r, 500))
  }
  t.equal(health, 'healthy', 'the image’s HEALTHCHECK passes')
})

t.test('a run dispatched to the containerized control plane runs in a runner container and succeeds', async (t) => {
  const res = await client.api('/dispatch', { body: { prompt: 'hello', config_toml: mockProviderToml(model.url) } })
  t.equal(res.status, 202)
  const { run_id } = (await res.json()) as { run_id: string }
  const rec = await waitForStatus(client, run_id, ['succeeded', 'failed', 'canceled'], 90_000)
  t.equal(rec.status, 'succeeded', `${rec.reason}: ${rec.message}`)
  t.equal(rec.summary, 'ran from the containerized control plane')
  const log = fs.readFileSync(path.join(dataDir, 'runs', run_id, 'run.log'), 'utf8')
  t.match(log, /"type":"turn\.completed"/, 'the run log is on the host data directory')
  t.equal(fs.statSync(path.join(dataDir, 'runs', run_id)).uid, 1000, 'run directories belong to the unprivileged user')
})
