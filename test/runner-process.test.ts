// The same job runner as a plain child process with host paths, the way the control plane's
// development `process` backend starts it (node dist/runner-image/src/main.js, RUNNER_CODEX_BIN set).
import { spawn } from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { mockProviderToml } from './support/e2e.js'
import { BUNDLE_FILES, RUNNER_ENV, type RunMeta, type RunResult } from '../runner-image/src/contract.js'
import { git, startGitServer } from './support/git-server.js'
import { startModelServer, toolsThenMessage } from './support/model-server.js'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const RUNNER_MAIN = path.join(root, 'dist/runner-image/src/main.js')
// Relative, as in the control plane's development set-up: resolved against the runner's cwd.
const CODEX_BIN = 'node_modules/.bin/codex'
const MODEL_KEY = 'sk-test-process-key-91b3f0e2'
const GIT_TOKEN = 'gt-test-process-token-5d8c7a'
const model = await startModelServer([])
const gitServer = await startGitServer(GIT_TOKEN)
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'runner-process-test-'))
t.teardown(async () => {
  await model.close()
  await gitServer.close()
  fs.rmSync(dataDir, { recursive: true, force: true })
})

const CONFIG = mockProviderToml(model.url)

interface ProcessRun {
  exitCode: number | null
  result: RunResult
  log: Array<Record<string, any>>
  logText: string
  workspace: string
}

/**
 * Writes a bundle and runs the runner on it as a child process; `whileRunning` gets the child
 * (to signal it). Resolves after the runner has exited.
 */
async function runProcess(opts: { meta?: Partial<RunMeta>; metaJson?: string; config?: string; whileRunning?: (pid: number, logFile: string) => Promise<void> }): Promise<ProcessRun> {
  const runId = crypto.randomUUID()
  const bundle = path.join(dataDir, 'runs', runId)
  const codexHome = path.join(dataDir, 'codex_home', runId)
  const workspace = path.join(dataDir, 'workdir', runId)
  const home = path.join(dataDir, 'home')
  for (const dir of [bundle, codexHome, workspace, home]) fs.mkdirSync(dir, { recursive: true })
  const meta: RunMeta = {
    run_id: runId, state_key: runId, workdir_rel: null, model: null, conversation_id: null, fork: false,
    pre_commands: [], post_commands: [], git: null, project: null, ...opts.meta,
  }
  fs.writeFileSync(path.join(bundle, BUNDLE_FILES.prompt), 'Do the task.')
  fs.writeFileSync(path.join(bundle, BUNDLE_FILES.config), opts.config ?? CONFIG)
  fs.writeFileSync(path.join(bundle, BUNDLE_FILES.meta), opts.metaJson ?? JSON.stringify(meta))
  const child = spawn(process.execPath, [RUNNER_MAIN], {
    env: {
      PATH: process.env.PATH,
      HOME: home,
      [RUNNER_ENV.bundleDir]: bundle,
      [RUNNER_ENV.codexHome]: codexHome,
      [RUNNER_ENV.workspace]: workspace,
      [RUNNER_ENV.codexBin]: CODEX_BIN,
      OPENAI_API_KEY: MODEL_KEY,
      GIT_TOKEN,
    },
    cwd: root,
    stdio: ['ignore', 'inherit', 'inherit'],
  })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  if (opts.whileRunning) await opts.whileRunning(child.pid!, path.join(bundle, BUNDLE_FILES.log))
  const exitCode = await exited
  const logText = fs.readFileSync(path.join(bundle, BUNDLE_FILES.log), 'utf8')
  return {
    exitCode,
    result: JSON.parse(fs.readFileSync(path.join(bundle, BUNDLE_FILES.result), 'utf8')),
    log: logText.trimEnd().split('\n').map((line) => JSON.parse(line)),
    logText,
    workspace,
  }
}

const commandOutputs = (log: Array<Record<string, any>>) =>
  log.filter((e) => e.type === 'item.completed' && e.item?.type === 'command_execution').map((e) => String(e.item.aggregated_output))

t.test('as a child process the runner clones, runs the agent with a clean env and pushes', async (t) => {
  model.setScript(toolsThenMessage(['echo from-process > src/hello.txt', 'env'], 'Done here.'))
  const out = await runProcess({
    meta: {
      workdir_rel: 'w',
      pre_commands: ['git status --short'],
      git: { repo: gitServer.url, branch: 'process-branch', base: 'main', clone_dir_rel: 'checkout', push: true },
    },
  })
  t.equal(out.exitCode, 0)
  t.equal(out.result.status, 'succeeded')
  t.same(out.result.pre_commands, [{ command: 'git status --short', exit_code: 0 }])
  t.equal(out.result.summary, 'Done here.')
  t.equal(out.result.git?.commit, git(gitServer.bareDir, 'rev-parse', 'refs/heads/process-branch'))
  t.equal(git(gitServer.bareDir, 'show', 'process-branch:src/hello.txt'), 'from-process')
  t.ok(fs.existsSync(path.join(out.workspace, 'w/checkout/.git')), 'the clone is inside the working directory')
  const envOutput = commandOutputs(out.log)[1]
  t.ok(envOutput.includes('CODEX_HOME='), 'the agent ran env')
  for (const text of [envOutput, out.logText, JSON.stringify(out.result), JSON.stringify(model.requests)]) {
    t.notOk(text.includes(MODEL_KEY), 'no model key')
    t.notOk(text.includes(GIT_TOKEN), 'no git token')
  }
})

t.test('SIGTERM to the runner process stops the agent and records a canceled run', async (t) => {
  model.setScript(toolsThenMessage(['echo $$ > agent-shell.pid; sleep 120'], 'never'))
  const started = Date.now()
  const out = await runProcess({
    whileRunning: async (pid, logFile) => {
      const deadline = Date.now() + 60_000
      while (!(fs.existsSync(logFile) && fs.readFileSync(logFile, 'utf8').includes('"command_execution"'))) {
        if (Date.now() > deadline) throw new Error('the agent never started its command')
        await new Promise((r) => setTimeout(r, 100))
      }
      process.kill(pid, 'SIGTERM')
    },
  })
  t.equal(out.exitCode, 1)
  t.equal(out.result.status, 'failed')
  t.equal(out.result.reason, 'canceled')
  t.ok(Date.now() - started < 30_000, 'the runner did not wait for the agent command')
  const shellPid = Number(fs.readFileSync(path.join(out.workspace, 'agent-shell.pid'), 'utf8'))
  t.ok(shellPid > 0, 'the agent shell wrote its pid')
  const alive = () => {
    try {
      process.kill(shellPid, 0)
      return !fs.readFileSync(`/proc/${shellPid}/stat`, 'utf8').includes(') Z ')
    } catch {
      return false
    }
  }
  for (let i = 0; i < 50 && alive(); i++) await new Promise((r) => setTimeout(r, 100))
  t.notOk(alive(), "the agent's shell command was stopped too")
})

t.test('a bundle whose meta escapes the workspace fails with runner_error and a result', async (t) => {
  const runIdOnly = JSON.stringify({ run_id: 'bad-run', state_key: 's', workdir_rel: '../outside' })
  const out = await runProcess({ metaJson: runIdOnly })
  t.equal(out.exitCode, 1)
  t.equal(out.result.run_id, 'bad-run')
  t.equal(out.result.status, 'failed')
  t.equal(out.result.reason, 'runner_error')
  t.match(out.result.message, /workdir_rel/)
  t.ok(out.log.some((e) => e.type === 'runner.finished'))
})

t.test('a config.toml that is not TOML fails the run before Codex starts', async (t) => {
  const requestsBefore = model.requests.length
  const out = await runProcess({ config: 'model_provider = = "x"\n' })
  t.equal(out.exitCode, 1)
  t.equal(out.result.reason, 'runner_error')
  t.equal(out.result.codex_exit_code, null)
  t.equal(model.requests.length, requestsBefore)
})
