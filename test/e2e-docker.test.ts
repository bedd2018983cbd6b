// End to end on real parts: the control plane with its Docker backend, the runner image built
// from runner-image/Dockerfile, the real Codex CLI against a scripted model server, and a real
// git server. A client dispatches and polls like SPEC section 2 says.
import t from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import Docker from 'dockerode'
import { git, startGitServer } from './support/git-server.js'
import { ensureRunnerImage } from './support/images.js'
import { startModelServer } from './support/model-server.js'
import { startTestService } from './support/service.js'
import { mockProviderToml, pollToEof, scriptByMarker, waitForStatus } from './support/e2e.js'
import { containerName } from '../control-plane/src/drivers/docker.js'

const MODEL_KEY = 'sk-e2e-model-key-51c0ffee'
const GIT_TOKEN = 'gt-e2e-git-token-9d8c7b6a5f'
const docker = new Docker()
const image = await ensureRunnerImage()
const model = await startModelServer(
  scriptByMarker({
    change: { cmds: ['printf "changed by the agent\\n" > src/hello.txt', 'echo agent-was-here > NOTES.md'], message: 'Changed hello.txt.' },
    resume: { cmds: ['echo resumed >> NOTES.md'], message: 'Resumed.' },
    fork: { cmds: ['echo forked > FORK.md'], message: 'Forked.' },
    sleep: { cmds: ['echo going to sleep', 'sleep 120'], message: 'Woke up.' },
  }),
)
const gitServer = await startGitServer(GIT_TOKEN)
t.teardown(async () => {
  await model.close()
  await gitServer.close()
})
const svc = await startTestService(t, {
  RUNNER_BACKEND: 'docker',
  RUNNER_IMAGE: image,
  RUNNER_NETWORK: 'host',
  RUNNER_CONCURRENCY: '2',
  GIT_TOKEN,
  OPENAI_API_KEY: MODEL_KEY,
})
const config_toml = mockProviderToml(model.url)

async function dispatch(body: Record<string, unknown>): Promise<string> {
  const res = await svc.api('/dispatch', { body: { config_toml, ...body } })
  const json = (await res.json()) as { run_id: string }
  if (res.status !== 202) throw new Error(`dispatch answered ${res.status}: ${JSON.stringify(json)}`)
  return json.run_id
}

function rolloutFile(stateKey: string, rel: string): string {
  return path.join(svc.dataDir, 'codex_home', stateKey, rel)
}

let firstThread = ''
let firstRun = ''

t.test('a dispatched run clones, lets the agent change a file, runs post_commands and pushes the branch', async (t) => {
  const runId = await dispatch({
    prompt: 'Change hello.txt. [[e2e:change]]',
    state_key: 'e2e',
    git_repo: gitServer.url,
    git_branch: 'feature/e2e',
    git_push: true,
    pre_commands: ['git status --short | wc -l'],
    post_commands: ['cat src/hello.txt', 'test -f NOTES.md'],
  })
  firstRun = runId
  const events = await pollToEof(svc, runId, 'events')
  const types = events.events.map((e) => e.type)
  t.ok(types.includes('thread.started'), 'Codex thread.started is in the events')
  t.ok(types.includes('turn.completed'), 'Codex turn.completed is in the events')
  t.ok(
    events.events.some((e) => e.type === 'item.completed' && e.item?.type === 'command_execution' && /hello\.txt/.test(e.item.command)),
    'the agent ran its tool call as a command_execution item',
  )
  t.equal(types[types.length - 1], 'dispatcher.run.finished', 'the control plane closes the log with the final status')
  const log = await pollToEof(svc, runId, 'log', 1000)
  t.equal(log.content, events.content, '/log and /events read the same bytes')
  t.ok(log.calls > 1, 'the log was read in several windows')

  const rec = await waitForStatus(svc, runId, ['succeeded', 'failed', 'canceled'])
  t.equal(rec.status, 'succeeded', `run succeeded (${rec.reason}: ${rec.message})`)
  t.equal(rec.exit_code, 0)
  t.match(rec.thread_id, /^[0-9a-f-]{36}$/)
  t.match(rec.rollout_path, new RegExp(`^sessions/\\d{4}/\\d{2}/\\d{2}/rollout-.*-${rec.thread_id}\\.jsonl$`))
  t.match(rec.usage, { input_tokens: Number, output_tokens: Number })
  t.equal(rec.summary, 'Changed hello.txt.')
  t.same(rec.pre_commands, [{ command: 'git status --short | wc -l', exit_code: 0 }])
  t.same(rec.post_commands, [
    { command: 'cat src/hello.txt', exit_code: 0 },
    { command: 'test -f NOTES.md', exit_code: 0 },
  ])
  t.equal(rec.git.branch, 'feature/e2e')
  t.equal(rec.git.pushed, true)
  const head = git(gitServer.bareDir, 'rev-parse', 'refs/heads/feature/e2e')
  t.equal(rec.git.commit, head, 'the recorded commit is the head of the pushed branch in the bare repo')
  t.equal(git(gitServer.bareDir, 'show', `${head}:src/hello.txt`), 'changed by the agent', 'the agent’s change is in the pushed commit')
  t.equal(git(gitServer.bareDir, 'rev-parse', `${head}~1`), git(gitServer.bareDir, 'rev-parse', 'refs/heads/main'), 'the branch starts at main')

  const rollout = await pollToEof(svc, runId, 'rollout')
  t.equal(rollout.last.thread_id, rec.thread_id)
  t.ok(rollout.content.includes('session_meta') || rollout.content.length > 100, 'the rollout JSONL is served')
  t.equal(rollout.content, fs.readFileSync(rolloutFile('e2e', rec.rollout_path), 'utf8'), 'rollout served byte for byte')

  const gone = await docker.getContainer(containerName(runId)).inspect().then(() => false, () => true)
  t.ok(gone, 'the runner container was removed after its result was collected')
  firstThread = rec.thread_id

  const logText = fs.readFileSync(path.join(svc.dataDir, 'runs', runId, 'run.log'), 'utf8')
  const recordText = JSON.stringify(rec)
  for (const secret of [GIT_TOKEN, MODEL_KEY]) {
    t.notOk(logText.includes(secret), 'no secret in run.log')
    t.notOk(recordText.includes(secret), 'no secret in the record')
  }
})

t.test('a second dispatch resumes the conversation; a third forks it and leaves the original rollout alone', async (t) => {
  const resumeId = await dispatch({ prompt: 'Go on. [[e2e:resume]]', state_key: 'e2e', conversation_id: firstThread })
  const resumed = await waitForStatus(svc, resumeId, ['succeeded', 'failed', 'canceled'])
  t.equal(resumed.status, 'succeeded', `resume succeeded (${resumed.message})`)
  t.equal(resumed.thread_id, firstThread, 'resume keeps the thread id')
  const original = rolloutFile('e2e', resumed.rollout_path)
  const before = fs.readFileSync(original)

  const forkId = await dispatch({ prompt: 'Try another way. [[e2e:fork]]', state_key: 'e2e', conversation_id: firstThread, fork: true })
  const forked = await waitForStatus(svc, forkId, ['succeeded', 'failed', 'canceled'])
  t.equal(forked.status, 'succeeded', `fork succeeded (${forked.message})`)
  t.match(forked.thread_id, /^[0-9a-f-]{36}$/)
  t.not(forked.thread_id, firstThread, 'fork starts a new thread')
  t.ok(fs.readFileSync(original).equals(before), 'the original rollout is byte-identical after the fork')
  t.not(forked.rollout_path, resumed.rollout_path)
  t.ok(firstRun)
})

t.test('a long run is cancelled: the container stops, the run ends canceled, the log stays', async (t) => {
  const runId = await dispatch({ prompt: 'Sleep. [[e2e:sleep]]', state_key: 'sleepy' })
  // Wait until the agent is inside `sleep 120`.
  const deadline = Date.now() + 60_000
  for (;;) {
    const w = (await (await svc.api(`/runs/${runId}/events?max_bytes=1000000`)).json()) as { events: any[] }
    if (w.events.some((e) => e.type === 'item.started' && /sleep 120/.test(e.item?.command ?? ''))) break
    if (Date.now() > deadline) throw new Error('the agent never started sleeping')
    await new Promise((r) => setTimeout(r, 200))
  }
  const info = await docker.getContainer(containerName(runId)).inspect()
  const cmdline = JSON.stringify([info.Path, info.Args, info.Config.Cmd, info.Config.Entrypoint])
  t.notOk(cmdline.includes(GIT_TOKEN), 'the git token is not on the container’s command line')
  t.notOk(cmdline.includes(MODEL_KEY), 'the model key is not on the container’s command line')
  t.equal(info.Config.User, '1000:1000', 'runs as the unprivileged runner user')
  t.same(info.HostConfig.CapDrop, ['ALL'])
  t.ok(info.HostConfig.SecurityOpt?.includes('no-new-privileges'))
  t.notOk(info.HostConfig.Binds?.some((b) => b.includes('docker.sock')), 'no Docker socket in the runner')
  t.ok((info.HostConfig.Memory ?? 0) > 0 && (info.HostConfig.PidsLimit ?? 0) > 0 && (info.HostConfig.NanoCpus ?? 0) > 0, 'limits are set')

  const t0 = Date.now()
  const res = await svc.api(`/runs/${runId}/cancel`, { method: 'POST' })
  t.ok([200, 202].includes(res.status), `cancel accepted (${res.status})`)
  const rec = await waitForStatus(svc, runId, ['succeeded', 'failed', 'canceled'], 60_000)
  t.equal(rec.status, 'canceled')
  t.equal(rec.reason, 'canceled')
  t.ok(Date.now() - t0 < 30_000, 'the run stopped well before its sleep would have ended')
  const log = await pollToEof(svc, runId, 'log')
  t.match(log.content, /going to sleep/, 'the log written before the cancel is kept')
  const gone = await docker.getContainer(containerName(runId)).inspect().then(() => false, () => true)
  t.ok(gone, 'the container is removed')
  const again = await svc.api(`/runs/${runId}/cancel`, { method: 'POST' })
  t.equal(again.status, 409)
})

t.test('a run past its timeout is stopped and fails with reason timeout', async (t) => {
  const runId = await dispatch({ prompt: 'Sleep. [[e2e:sleep]]', state_key: 'timeouts', timeout_s: 4 })
  const rec = await waitForStatus(svc, runId, ['succeeded', 'failed', 'canceled'], 90_000)
  t.equal(rec.status, 'failed')
  t.equal(rec.reason, 'timeout')
  t.match(rec.message, /4 s/)
})
