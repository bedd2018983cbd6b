// Postgres restarts while a run is in flight: the control plane keeps going, and the run still
// ends exactly once with its result once the database is back (SPEC section 3).
import t from 'tap'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { startEmbeddedPostgres } from '../control-plane/src/db/embedded.js'
import { ensureRunnerImage } from './support/images.js'
import { startModelServer } from './support/model-server.js'
import { startTestService } from './support/service.js'
import { mockProviderToml, scriptByMarker, waitForStatus } from './support/e2e.js'

const image = await ensureRunnerImage()
const model = await startModelServer(scriptByMarker({ nap: { cmds: ['sleep 5', 'echo rested > rested.txt'], message: 'Rested.' } }))
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cd-pg-restart-'))
fs.chmodSync(root, 0o755) // the embedded cluster runs as the postgres user when we are root
const clusterDir = path.join(root, 'pg', 'cluster')
let pg = await startEmbeddedPostgres({ dir: clusterDir })
const port = pg.port
t.teardown(async () => {
  await model.close()
  await pg.stop().catch(() => {})
  fs.rmSync(root, { recursive: true, force: true })
})

t.test('a run in flight while Postgres restarts ends once with its result', async (t) => {
  const svc = await startTestService(
    t,
    { RUNNER_BACKEND: 'docker', RUNNER_IMAGE: image, RUNNER_NETWORK: 'host', OPENAI_API_KEY: 'sk-pg-restart' },
    { dataDir: path.join(root, 'data'), databaseUrl: pg.url },
  )
  const res = await svc.api('/dispatch', { body: { prompt: '[[e2e:nap]]', config_toml: mockProviderToml(model.url), state_key: 'pg-restart' } })
  const { run_id } = (await res.json()) as { run_id: string }
  const log = path.join(svc.dataDir, 'runs', run_id, 'run.log')
  const deadline = Date.now() + 60_000
  while (!(fs.existsSync(log) && fs.readFileSync(log, 'utf8').includes("'sleep 5'"))) {
    if (Date.now() > deadline) throw new Error('the agent never started sleeping')
    await new Promise((r) => setTimeout(r, 100))
  }
  await pg.stop()
  const down = await svc.api(`/runs/${run_id}/record`)
  t.ok(down.status >= 500, `with Postgres down the API answers 5xx (${down.status}), never a wrong status`)
  t.match(await down.json(), { error: { code: String } }, 'in the error envelope')
  t.equal((await fetch(svc.url + '/readyz')).status, 503, 'readyz says Postgres is not answering')
  // Let the runner finish while the database is down.
  await new Promise((r) => setTimeout(r, 8000))
  pg = await startEmbeddedPostgres({ dir: clusterDir, port })
  const rec = await waitForStatus(svc, run_id, ['succeeded', 'failed', 'canceled'], 60_000)
  t.equal(rec.status, 'succeeded', `${rec.reason}: ${rec.message}`)
  t.equal(rec.summary, 'Rested.')
  const text = fs.readFileSync(log, 'utf8')
  t.equal((text.match(/"type":"dispatcher\.run\.finished"/g) ?? []).length, 1, 'finished exactly once')
  t.equal((await fetch(svc.url + '/readyz')).status, 200, 'ready again')

  const again = await svc.api('/dispatch', { body: { prompt: '[[e2e:nap]]', config_toml: mockProviderToml(model.url), state_key: 'pg-restart' } })
  t.equal(again.status, 202, 'dispatch works again after the restart')
  const second = await waitForStatus(svc, ((await again.json()) as { run_id: string }).run_id, ['succeeded', 'failed', 'canceled'], 60_000)
  t.equal(second.status, 'succeeded')
})
