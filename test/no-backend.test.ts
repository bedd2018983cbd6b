// Without a Docker daemon and without RUNNER_BACKEND=process, the service still starts, says why
// it cannot run anything, and dispatch answers 503 with that reason instead of queueing a run
// nothing would execute (SPEC section 6).
import t from 'tap'
import { startTestService } from './support/service.js'

t.test('no runner backend: dispatch is 503 with the reason, readyz is 503, nothing is queued', async (t) => {
  const svc = await startTestService(t, { RUNNER_BACKEND: 'auto', DOCKER_SOCKET: '/nonexistent/docker.sock' })
  t.match(svc.backendDescription, /no Docker daemon answers at \/nonexistent\/docker\.sock/)
  const res = await svc.api('/dispatch', { body: { prompt: 'x', config_toml: '' } })
  t.equal(res.status, 503)
  t.match(await res.json(), { error: { code: 'runner_backend_unavailable', message: /RUNNER_BACKEND=process/ } })
  const invalid = await svc.api('/dispatch', { body: { config_toml: '' } })
  t.equal(invalid.status, 400, 'validation still comes first')
  const ready = await fetch(svc.url + '/readyz')
  t.equal(ready.status, 503)
  t.match(await ready.json(), { error: { details: { postgres: 'ok', runner: /no runner backend/ } } })
  const runs = (await (await svc.api('/runs')).json()) as { runs: unknown[] }
  t.equal(runs.runs.length, 0)
})

t.test('RUNNER_BACKEND=docker with no daemon refuses to start, naming the socket', async (t) => {
  await t.rejects(startTestService(t, { RUNNER_BACKEND: 'docker', DOCKER_SOCKET: '/nonexistent/docker.sock' }), /RUNNER_BACKEND=docker but the Docker daemon does not answer/)
})
