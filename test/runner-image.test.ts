// The runner image run by the real Docker daemon (as the control plane's Docker backend does),
// driving the real Codex CLI against a scripted model server and a real git server.
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import Docker from 'dockerode'
import t from 'tap'
import { mockProviderToml } from './support/e2e.js'
import { BUNDLE_FILES, CONTAINER_PATHS, type RunMeta, type RunResult } from '../runner-image/src/contract.js'
import { git, INITIAL_FILES, startGitServer } from './support/git-server.js'
import { ensureRunnerImage } from './support/images.js'
import { SCRIPTED_USAGE, startModelServer, toolsThenMessage, type Script } from './support/model-server.js'

const MODEL_KEY = 'sk-test-model-key-6f1d2c9e8b'
const GIT_TOKEN = 'gt-test-git-token-3a7b5c1d90'
const docker = new Docker()
const image = await ensureRunnerImage()
const model = await startModelServer([])
const gitServer = await startGitServer(GIT_TOKEN)
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'runner-image-test-'))
t.teardown(async () => {
  await model.close()
  await gitServer.close()
  fs.rmSync(dataDir, { recursive: true, force: true })
})

const configToml = (extra = ''): string => mockProviderToml(model.url, extra)

interface RunDirs {
  runId: string
  bundle: string
  codexHome: string
  workspace: string
}

/** Gives `dir` and everything in it to `uid` (the runner's user), as the control plane does. */
function chownTree(dir: string, uid: number): void {
  fs.chownSync(dir, uid, uid)
  for (const rel of fs.readdirSync(dir, { recursive: true, encoding: 'utf8' })) fs.lchownSync(path.join(dir, rel), uid, uid)
}

/** Writes a bundle under the DATA_DIR layout of SPEC section 4; returns the host directories. */
function makeRun(opts: { stateKey: string; meta?: Partial<RunMeta>; prompt?: string; config?: string; workspace?: string }): RunDirs {
  const runId = crypto.randomUUID()
  const bundle = path.join(dataDir, 'runs', runId)
  const codexHome = path.join(dataDir, 'codex_home', opts.stateKey)
  const workspace = opts.workspace ?? path.join(dataDir, 'workdir', opts.stateKey)
  for (const dir of [bundle, codexHome, workspace]) fs.mkdirSync(dir, { recursive: true })
  const meta: RunMeta = {
    run_id: runId,
    state_key: opts.stateKey,
    workdir_rel: null,
    model: null,
    conversation_id: null,
    fork: false,
    pre_commands: [],
    post_commands: [],
    git: null,
    project: null,
    ...opts.meta,
  }
  fs.writeFileSync(path.join(bundle, BUNDLE_FILES.prompt), opts.prompt ?? 'Do the task.')
  fs.writeFileSync(path.join(bundle, BUNDLE_FILES.config), opts.config ?? configToml())
  fs.writeFileSync(path.join(bundle, BUNDLE_FILES.meta), JSON.stringify(meta))
  return { runId, bundle, codexHome, workspace }
}

interface ContainerRun {
  exitCode: number
  result: RunResult
  log: Array<Record<string, any>>
  logText: string
  inspect: Docker.ContainerInspectInfo
  elapsedMs: number
}

function readOutputs(run: RunDirs): { result: RunResult; log: Array<Record<string, any>>; logText: string } {
  const logText = fs.readFileSync(path.join(run.bundle, BUNDLE_FILES.log), 'utf8')
  const log = logText.trimEnd().split('\n').map((line) => JSON.parse(line))
  const result = JSON.parse(fs.readFileSync(path.join(run.bundle, BUNDLE_FILES.result), 'utf8')) as RunResult
  return { result, log, logText }
}

/**
 * Runs the runner image on `run` like the control plane's Docker backend: non-root, no
 * capabilities, no-new-privileges, host network (to reach the loopback servers), bind mounts
 * at the contract's container paths, credentials only in the environment.
 */
async function runContainer(run: RunDirs, opts: { user?: string; whileRunning?: (c: Docker.Container) => Promise<void> } = {}): Promise<ContainerRun> {
  const user = opts.user ?? '1000:1000'
  const uid = Number(user.split(':')[0])
  for (const dir of [run.bundle, run.codexHome, run.workspace]) chownTree(dir, uid)
  const container = await docker.createContainer({
    Image: image,
    User: user,
    Env: [`OPENAI_API_KEY=${MODEL_KEY}`, `GIT_TOKEN=${GIT_TOKEN}`],
    HostConfig: {
      NetworkMode: 'host',
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges'],
      Binds: [
        `${run.bundle}:${CONTAINER_PATHS.bundle}`,
        `${run.codexHome}:${CONTAINER_PATHS.codexHome}`,
        `${run.workspace}:${CONTAINER_PATHS.workspace}`,
      ],
    },
  })
  try {
    const started = Date.now()
    await container.start()
    const waited = container.wait()
    if (opts.whileRunning) await opts.whileRunning(container)
    const { StatusCode } = (await waited) as { StatusCode: number }
    const elapsedMs = Date.now() - started
    const inspect = await container.inspect()
    return { exitCode: StatusCode, inspect, elapsedMs, ...readOutputs(run) }
  } finally {
    await container.remove({ force: true })
  }
}

const codexEvents = (log: Array<Record<string, any>>, type: string) => log.filter((e) => e.type === type)
const commandOutputs = (log: Array<Record<string, any>>) =>
  log.filter((e) => e.type === 'item.completed' && e.item?.type === 'command_execution').map((e) => String(e.item.aggregated_output))

function assertNoSecrets(t: Tap.Test, label: string, text: string): void {
  t.notOk(text.includes(MODEL_KEY), `${label} does not contain the model key`)
  t.notOk(text.includes(GIT_TOKEN), `${label} does not contain the git token`)
}

let firstThread = ''
let firstRollout = ''

t.test('a git run clones, runs pre/post commands, lets the agent change a file and pushes the branch', async (t) => {
  model.setScript(toolsThenMessage(['echo changed > src/hello.txt', 'env', 'echo marker=$RUN_MARKER'], 'All done.'))
  const requestsBefore = model.requests.length
  const run = makeRun({
    stateKey: 'git-state',
    config: configToml('[shell_environment_policy]\nset = { RUN_MARKER = "from-first-run" }\n'),
    meta: {
      workdir_rel: 'jobs/one',
      pre_commands: ['test -f README.md', 'echo pre-output'],
      post_commands: ['grep -q changed src/hello.txt'],
      git: { repo: gitServer.url, branch: 'feature/x', base: 'main', clone_dir_rel: 'repo', push: true },
    },
  })
  const out = await runContainer(run)
  t.equal(out.exitCode, 0, 'the container exits 0')
  const r = out.result
  t.equal(r.status, 'succeeded')
  t.equal(r.reason, null)
  t.equal(r.run_id, run.runId)
  t.same(r.pre_commands, [{ command: 'test -f README.md', exit_code: 0 }, { command: 'echo pre-output', exit_code: 0 }])
  t.same(r.post_commands, [{ command: 'grep -q changed src/hello.txt', exit_code: 0 }])
  t.equal(r.codex_exit_code, 0)
  t.match(r.thread_id, /^[0-9a-f-]{36}$/)
  t.equal(r.summary, 'All done.')
  const requests = model.requests.length - requestsBefore
  t.equal(requests, 4, 'three tool calls and a final message')
  t.same(r.usage, {
    input_tokens: SCRIPTED_USAGE.input_tokens * requests,
    cached_input_tokens: SCRIPTED_USAGE.cached_input_tokens * requests,
    output_tokens: SCRIPTED_USAGE.output_tokens * requests,
  })
  t.match(r.rollout_path, new RegExp(`^sessions/\\d{4}/\\d{2}/\\d{2}/rollout-.*-${r.thread_id}\\.jsonl$`))
  t.ok(fs.existsSync(path.join(run.codexHome, r.rollout_path!)), 'the rollout exists in the Codex home')

  // The change happened in the clone inside the working directory, and was pushed.
  const clone = path.join(run.workspace, 'jobs/one/repo')
  t.equal(fs.readFileSync(path.join(clone, 'src/hello.txt'), 'utf8'), 'changed\n')
  t.same(r.git, { branch: 'feature/x', commit: git(gitServer.bareDir, 'rev-parse', 'refs/heads/feature/x'), pushed: true })
  t.equal(git(gitServer.bareDir, 'show', 'feature/x:src/hello.txt'), 'changed')
  t.equal(git(gitServer.bareDir, 'show', 'feature/x:README.md'), INITIAL_FILES['README.md'].trim())
  t.equal(git(gitServer.bareDir, 'log', '-1', '--format=%an <%ae>', 'feature/x'), 'codex-dispatcher <codex-dispatcher@localhost>')
  t.equal(git(gitServer.bareDir, 'rev-parse', 'feature/x^'), git(gitServer.bareDir, 'rev-parse', 'main'), 'the branch starts at main')
  t.ok(gitServer.refused > 0, 'the git server refused unauthenticated requests, so the token was needed')

  // run.log: Codex JSONL passed through, the runner's own events, command output lines.
  t.equal(codexEvents(out.log, 'thread.started')[0]?.thread_id, r.thread_id)
  t.equal(codexEvents(out.log, 'turn.completed').length, 1)
  t.equal(commandOutputs(out.log).length, 3, 'three command_execution items')
  for (const type of ['runner.started', 'runner.git.cloned', 'runner.codex.started', 'runner.codex.exited', 'runner.git.pushed', 'runner.finished']) {
    t.ok(out.log.some((e) => e.type === type), `run.log has ${type}`)
  }
  t.ok(out.log.filter((e) => e.type.startsWith('runner.')).every((e) => !Number.isNaN(Date.parse(e.ts))), 'runner events carry an ISO ts')
  t.ok(out.log.some((e) => e.type === 'runner.command.output' && e.phase === 'pre' && e.index === 1 && e.line === 'pre-output'))
  t.ok(out.log.some((e) => e.type === 'runner.command.finished' && e.phase === 'post' && e.index === 0 && e.exit_code === 0))

  // The run's config applied (its env marker reached the agent) but left nothing in the Codex home.
  t.ok(commandOutputs(out.log)[2].includes('marker=from-first-run'), 'the run config was layered on the Codex home')
  t.same(fs.readdirSync(run.codexHome).filter((f) => f.endsWith('config.toml')), [], 'no config file is left in the Codex home')

  // Credentials: the agent's env output, run.log, result.json, the container command, the model requests.
  const envOutput = commandOutputs(out.log)[1]
  t.ok(envOutput.includes(`CODEX_HOME=${CONTAINER_PATHS.codexHome}`), 'the agent ran env')
  for (const name of ['OPENAI_API_KEY', 'CODEX_API_KEY', 'GIT_TOKEN']) t.notOk(envOutput.includes(`${name}=`), `${name} is not in the agent's env`)
  assertNoSecrets(t, "the agent's env output", envOutput)
  assertNoSecrets(t, 'run.log', out.logText)
  assertNoSecrets(t, 'result.json', JSON.stringify(r))
  assertNoSecrets(t, 'the container command', JSON.stringify([out.inspect.Path, out.inspect.Args, out.inspect.Config.Cmd, out.inspect.Config.Entrypoint]))
  assertNoSecrets(t, 'what the model received', JSON.stringify(model.requests.slice(requestsBefore)))
  assertNoSecrets(t, 'the clone', fs.readFileSync(path.join(clone, '.git/config'), 'utf8'))
  firstThread = r.thread_id!
  firstRollout = r.rollout_path!
})

t.test('a resumed run keeps the thread id and does not see the earlier run config', async (t) => {
  model.setScript(toolsThenMessage(['echo marker=$RUN_MARKER'], 'Resumed.'))
  const requestsBefore = model.requests.length
  const run = makeRun({ stateKey: 'git-state', prompt: 'Continue.', meta: { conversation_id: firstThread } })
  const out = await runContainer(run)
  t.equal(out.exitCode, 0)
  t.equal(out.result.status, 'succeeded')
  t.equal(out.result.thread_id, firstThread, 'same thread id')
  t.equal(out.result.rollout_path, firstRollout, 'same rollout file')
  t.equal(out.result.summary, 'Resumed.')
  t.equal(commandOutputs(out.log)[0].trim(), 'marker=', "the first run's config did not leak into this run")
  t.ok(JSON.stringify(model.requests[requestsBefore]).includes('All done.'), 'the model saw the earlier conversation')
})

t.test('a forked run gets a new thread id and leaves the original rollout untouched', async (t) => {
  model.setScript(toolsThenMessage([], 'Forked.'))
  const original = path.join(dataDir, 'codex_home/git-state', firstRollout)
  const before = fs.readFileSync(original)
  const run = makeRun({ stateKey: 'git-state', prompt: 'Try another way.', meta: { conversation_id: firstThread, fork: true } })
  const out = await runContainer(run)
  t.equal(out.exitCode, 0)
  t.equal(out.result.status, 'succeeded')
  t.match(out.result.thread_id, /^[0-9a-f-]{36}$/)
  t.not(out.result.thread_id, firstThread, 'a new thread id')
  t.not(out.result.rollout_path, firstRollout)
  t.ok(fs.existsSync(path.join(run.codexHome, out.result.rollout_path!)), 'the fork has its own rollout')
  t.ok(fs.readFileSync(original).equals(before), 'the original rollout is byte-identical')
})

t.test('a failing pre_command fails the run and Codex never runs', async (t) => {
  model.setScript(toolsThenMessage([], 'should not happen'))
  const requestsBefore = model.requests.length
  const run = makeRun({ stateKey: 'pre-fail', meta: { pre_commands: ['true', 'echo failing >&2; exit 3', 'echo never'] } })
  const out = await runContainer(run)
  t.equal(out.exitCode, 1)
  t.equal(out.result.status, 'failed')
  t.equal(out.result.reason, 'pre_command_failed')
  t.same(out.result.pre_commands, [{ command: 'true', exit_code: 0 }, { command: 'echo failing >&2; exit 3', exit_code: 3 }])
  t.equal(out.result.codex_exit_code, null)
  t.equal(out.result.thread_id, null)
  t.equal(model.requests.length, requestsBefore, 'the model was never called')
  t.notOk(out.log.some((e) => e.type === 'runner.codex.started'), 'codex never started')
  t.ok(out.log.some((e) => e.type === 'runner.command.output' && e.stream === 'stderr' && e.line === 'failing'))
})

t.test('a project job writes .codex/request.json and a result.json with exactly the created and modified files', async (t) => {
  const workspace = path.join(dataDir, 'projects', 'p-1')
  fs.mkdirSync(path.join(workspace, 'docs'), { recursive: true })
  fs.mkdirSync(path.join(workspace, '.git'), { recursive: true })
  fs.writeFileSync(path.join(workspace, 'keep.txt'), 'same\n')
  fs.writeFileSync(path.join(workspace, 'docs/edit.md'), 'old\n')
  fs.writeFileSync(path.join(workspace, 'touched.txt'), 'unchanged\n')
  model.setScript(toolsThenMessage([
    'cat .codex/request.json',
    'echo new > created.txt && mkdir -p sub/deeper && echo x > sub/deeper/file.txt && echo new > docs/edit.md',
    'touch touched.txt && echo ignored > .git/HEAD2 && echo ignored > .codex/notes.txt',
  ], 'Built the project.'))
  const project = { project_id: 'p-1', job_id: 'j-1', job_type: 'initial_project' as const, instruction: 'Make a site' }
  const run = makeRun({ stateKey: 'project-p-1', workspace, meta: { project } })
  const out = await runContainer(run)
  t.equal(out.exitCode, 0)
  t.equal(out.result.status, 'succeeded')
  t.same(JSON.parse(fs.readFileSync(path.join(workspace, '.codex/request.json'), 'utf8')), project)
  t.same(JSON.parse(commandOutputs(out.log)[0]), project, 'request.json was there before the agent ran')
  const result = JSON.parse(fs.readFileSync(path.join(workspace, '.codex/result.json'), 'utf8'))
  t.same(result, {
    status: 'success',
    summary: 'Built the project.',
    created_files: ['created.txt', 'sub/deeper/file.txt'],
    modified_files: ['docs/edit.md'],
    errors: [],
    logs: result.logs,
  })
  t.ok(Array.isArray(result.logs) && result.logs.length > 0)
})

t.test('docker stop cancels the run: children stop and the result says canceled', async (t) => {
  model.setScript(toolsThenMessage(['sleep 120'], 'never'))
  const run = makeRun({ stateKey: 'cancel' })
  const logFile = path.join(run.bundle, BUNDLE_FILES.log)
  const out = await runContainer(run, {
    whileRunning: async (container) => {
      const deadline = Date.now() + 60_000
      while (!(fs.existsSync(logFile) && fs.readFileSync(logFile, 'utf8').includes('"command_execution"'))) {
        if (Date.now() > deadline) throw new Error('the agent never started its command')
        await new Promise((r) => setTimeout(r, 200))
      }
      await container.stop({ t: 20 })
    },
  })
  t.equal(out.exitCode, 1)
  t.equal(out.result.status, 'failed')
  t.equal(out.result.reason, 'canceled')
  t.ok(out.log.some((e) => e.type === 'runner.cancel' && e.signal === 'SIGTERM'))
  t.ok(out.elapsedMs < 20_000, `the runner stopped on SIGTERM, before Docker's SIGKILL (${out.elapsedMs} ms)`)
})

t.test('the runner works as another uid that has no home in the image', async (t) => {
  model.setScript(toolsThenMessage(['echo home=$HOME && echo written > out.txt'], 'ok'))
  const run = makeRun({ stateKey: 'other-uid' })
  const out = await runContainer(run, { user: '4242:4242' })
  t.equal(out.exitCode, 0)
  t.equal(out.result.status, 'succeeded')
  t.match(commandOutputs(out.log)[0], /^home=\/tmp\/runner-home-4242/)
  t.equal(fs.readFileSync(path.join(run.workspace, 'out.txt'), 'utf8'), 'written\n')
})
