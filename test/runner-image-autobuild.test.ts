// `npm start` on a fresh machine: the Docker backend finds no runner image and builds it from
// runner-image/ before the scheduler starts, through the Docker Engine API.
import t from 'tap'
import crypto from 'node:crypto'
import Docker from 'dockerode'
import { TEST_BASE_IMAGE } from './support/images.js'
import { startModelServer } from './support/model-server.js'
import { startTestService } from './support/service.js'
import { mockProviderToml, waitForStatus } from './support/e2e.js'

const docker = new Docker()
const tag = `codex-dispatcher-runner:autobuild-${crypto.randomBytes(4).toString('hex')}`
const model = await startModelServer(() => ({ message: 'built and ran' }))
t.teardown(async () => {
  await model.close()
  await docker.getImage(tag).remove({ force: true }).catch(() => {})
})

t.test('a missing runner image is built at start-up and runs work with it', async (t) => {
  const svc = await startTestService(t, {
    RUNNER_BACKEND: 'docker',
    RUNNER_IMAGE: tag,
    RUNNER_BASE_IMAGE: TEST_BASE_IMAGE,
    RUNNER_NETWORK: 'host',
    OPENAI_API_KEY: 'sk-autobuild',
  })
  t.match(svc.backendDescription, /built now/)
  const info = await docker.getImage(tag).inspect()
  t.equal(info.Config.User, '1000:1000', 'the image built is the runner image (non-root user)')
  t.equal((await fetch(svc.url + '/readyz')).status, 200)

  const res = await svc.api('/dispatch', { body: { prompt: 'hello', config_toml: mockProviderToml(model.url) } })
  const { run_id } = (await res.json()) as { run_id: string }
  const rec = await waitForStatus(svc, run_id, ['succeeded', 'failed', 'canceled'])
  t.equal(rec.status, 'succeeded', `${rec.reason}: ${rec.message}`)
  t.equal(rec.summary, 'built and ran')

  await docker.getImage(tag).remove({ force: true })
  const ready = await fetch(svc.url + '/readyz')
  t.equal(ready.status, 503, 'without the image the service says it is not ready')
  t.match(await ready.json(), { error: { code: 'not_ready', details: { runner: new RegExp(`runner image ${tag.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is not on the Docker daemon`) } } })
})
