// The CLI (`npx codex-dispatcher`, the compiled bin) against a real control plane running real runs:
// dispatch --follow exits 0 when the run succeeds and non-zero when it fails; runs/show/logs/cancel
// and projects work with --json; URL and token come from the environment or flags.
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { startModelServer, toolsThenMessage } from './support/model-server.js'
import { startTestService, TEST_TOKEN } from './support/service.js'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const CLI = path.join(root, 'dist/control-plane/src/cli/main.js')
const model = await startModelServer(toolsThenMessage(['echo from-the-agent > made.txt'], 'All done here.'))
t.teardown(() => model.close())
const svc = await startTestService(t, { OPENAI_API_KEY: 'sk-test-cli' })
const CONFIG = `model_provider = "mock"\nmodel = "mock-model"\n[model_providers.mock]\nname = "mock"\nbase_url = "${model.url}"\nenv_key = "OPENAI_API_KEY"\nwire_api = "responses"\n`

interface Out {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs the CLI; `npx` runs it through the package's bin entry. */
function cli(args: string[], opts: { stdin?: string; env?: Record<string, string>; npx?: boolean } = {}): Promise<Out> {
  const env = { PATH: process.env.PATH!, HOME: process.env.HOME!, CODEX_DISPATCHER_URL: svc.url, CODEX_DISPATCHER_TOKEN: TEST_TOKEN, ...opts.env }
  const child = opts.npx
    ? spawn('npx', ['--no-install', 'codex-dispatcher', ...args], { cwd: root, env })
    : spawn(process.execPath, [CLI, ...args], { cwd: root, env })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (c) => (stdout += c))
  child.stderr.on('data', (c) => (stderr += c))
  child.stdin.end(opts.stdin ?? '')
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })))
}

t.test('dispatch --follow streams a succeeding run and exits 0', async (t) => {
  const out = await cli(['dispatch', 'Make a file.', '--config-toml', CONFIG, '--state-key', 'cli-ok', '--pre-command', 'echo pre-ran', '--follow'], { npx: true })
  t.equal(out.code, 0, out.stderr)
  t.match(out.stdout, /agent: All done here\./, "the agent's message, readably")
  t.match(out.stdout, /\$ .*echo from-the-agent > made\.txt/, "the agent's command")
  t.match(out.stdout, /pre-ran/, 'pre-command output')
  t.match(out.stderr, /● (queued|running)/, 'a status line')
  t.match(out.stderr, /run [0-9a-f-]{36} succeeded/)
  t.equal(fs.readFileSync(path.join(svc.dataDir, 'workdir/cli-ok/made.txt'), 'utf8'), 'from-the-agent\n')
})

t.test('dispatch --follow of a failing run (prompt on stdin) exits non-zero', async (t) => {
  const out = await cli(['dispatch', '--config-toml', CONFIG, '--pre-command', 'exit 3', '--follow'], { stdin: 'prompt from stdin' })
  t.equal(out.code, 1)
  t.match(out.stderr, /failed \(pre_command_failed\)/)
  const id = /queued run ([0-9a-f-]{36})/.exec(out.stderr)![1]
  const show = await cli(['--json', 'show', id])
  t.equal(show.code, 0)
  const record = JSON.parse(show.stdout)
  t.equal(record.status, 'failed')
  t.equal(record.request.prompt, 'prompt from stdin')
  t.same(record.pre_commands, [{ command: 'exit 3', exit_code: 3 }])

  const logs = await cli(['logs', id])
  t.equal(logs.stdout, fs.readFileSync(path.join(svc.dataDir, 'runs', id, 'run.log'), 'utf8'), 'logs prints the whole log')
  const followed = await cli(['logs', id, '--follow'])
  t.equal(followed.code, 1, 'logs --follow of a failed run exits 1')
  t.match(followed.stdout, /"dispatcher\.run\.finished"/)
})

t.test('--json dispatch, runs, cancel; a prompt file; every field reaches the record', async (t) => {
  const promptFile = path.join(svc.dataDir, 'prompt.md')
  fs.writeFileSync(promptFile, 'prompt from a file')
  const d = await cli([
    '--json', 'dispatch', '--prompt-file', promptFile, '--config-toml', '', '--state-key', 'cli-cancel', '--workdir-rel', 'sub/dir',
    '--model', 'm-1', '--pre-command', 'sleep 60', '--post-command', 'true', '--post-command', 'echo two', '--timeout', '120',
    '--idempotency-key', 'cli-key-1',
  ])
  t.equal(d.code, 0, d.stderr)
  const queued = JSON.parse(d.stdout)
  t.equal(queued.status, 'queued')
  const again = await cli(['--json', 'dispatch', '--prompt-file', promptFile, '--config-toml', '', '--state-key', 'cli-cancel', '--workdir-rel', 'sub/dir',
    '--model', 'm-1', '--pre-command', 'sleep 60', '--post-command', 'true', '--post-command', 'echo two', '--timeout', '120', '--idempotency-key', 'cli-key-1'])
  t.equal(JSON.parse(again.stdout).run_id, queued.run_id, 'the idempotency key is sent')
  const rec = JSON.parse((await cli(['--json', 'show', queued.run_id])).stdout)
  t.match(rec.request, { prompt: 'prompt from a file', workdir_rel: 'sub/dir', model: 'm-1', pre_commands: ['sleep 60'], post_commands: ['true', 'echo two'], timeout_s: 120 })

  const runs = JSON.parse((await cli(['--json', 'runs', '--limit', '50'])).stdout)
  t.ok(runs.runs.some((r: { run_id: string }) => r.run_id === queued.run_id))
  const table = await cli(['runs'])
  t.match(table.stdout, new RegExp(queued.run_id))

  const canceled = await cli(['cancel', queued.run_id])
  t.equal(canceled.code, 0, canceled.stderr)
  const followed = await cli(['logs', queued.run_id, '--follow'])
  t.equal(followed.code, 1, 'a canceled run is not a success')
  t.equal(JSON.parse((await cli(['--json', 'show', queued.run_id])).stdout).status, 'canceled')
})

t.test('errors: a wrong token, an invalid field, an unknown run, no prompt', async (t) => {
  const bad = await cli(['runs'], { env: { CODEX_DISPATCHER_TOKEN: 'wrong-token-wrong-token' } })
  t.equal(bad.code, 2)
  t.match(bad.stderr, /invalid token \(HTTP 401, unauthorized\)/)
  const flag = await cli(['--token', TEST_TOKEN, '--url', svc.url, 'runs'], { env: { CODEX_DISPATCHER_TOKEN: '', CODEX_DISPATCHER_URL: 'http://127.0.0.1:1' } })
  t.equal(flag.code, 0, 'flags win over the environment')
  const invalid = await cli(['dispatch', 'x', '--workdir-rel', '../up'])
  t.equal(invalid.code, 2)
  t.match(invalid.stderr, /workdir_rel: must stay inside its root/)
  const unknown = await cli(['show', '00000000-0000-4000-8000-000000000000'])
  t.equal(unknown.code, 2)
  t.match(unknown.stderr, /not found/)
  const noPrompt = await cli(['dispatch'])
  t.equal(noPrompt.code, 2)
  t.match(noPrompt.stderr, /no prompt/)
})

t.test('projects: create, list, show, files, cat, edit', async (t) => {
  const created = await cli(['--json', 'projects', 'create', 'Write', 'made.txt', '--config-toml', CONFIG])
  t.equal(created.code, 0, created.stderr)
  const project = JSON.parse(created.stdout)
  t.equal(project.instruction, 'Write made.txt')
  const list = JSON.parse((await cli(['--json', 'projects', 'list'])).stdout)
  t.ok(list.projects.some((p: { project_id: string }) => p.project_id === project.project_id))
  const followed = await cli(['logs', project.latest_job_id, '--follow'])
  t.equal(followed.code, 0, 'the initial job succeeded')
  const shown = JSON.parse((await cli(['--json', 'projects', 'show', project.project_id])).stdout)
  t.equal(shown.jobs.length, 1)
  const files = await cli(['projects', 'files', project.project_id])
  t.match(files.stdout, /made\.txt/)
  const cat = await cli(['projects', 'cat', project.project_id, 'made.txt'])
  t.equal(cat.stdout, 'from-the-agent\n')
  const edit = await cli(['projects', 'edit', project.project_id, 'Change', 'it', '--follow'])
  t.equal(edit.code, 0, edit.stderr)
  t.match(edit.stdout, /agent: All done here\./)
})
