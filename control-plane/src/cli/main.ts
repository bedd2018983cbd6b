#!/usr/bin/env node
/**
 * `codex-dispatcher`: the command-line client of the control plane (`npx codex-dispatcher --help`).
 * Exit codes: 0 success (a followed run succeeded), 1 a followed run failed or was canceled,
 * 2 a usage or API error (the server's error code and message on stderr).
 */
import fs from 'node:fs'
import { Command, Option } from 'commander'
import { ApiClient, ApiError } from './client.js'
import { cliConfig } from './config.js'
import { describeEvent, formatDuration, table } from './render.js'

const EXIT_RUN_FAILED = 1
const EXIT_ERROR = 2
const FINAL = ['succeeded', 'failed', 'canceled']

interface GlobalOpts {
  url?: string
  token?: string
  json?: boolean
}

const program = new Command()
  .name('codex-dispatcher')
  .description('Client of a codex-dispatcher control plane: dispatch Codex runs, follow them, manage projects.')
  .option('--url <url>', 'control plane URL (env CODEX_DISPATCHER_URL, default http://127.0.0.1:8080)')
  .option('--token <token>', 'dispatch token (env CODEX_DISPATCHER_TOKEN)')
  .option('--json', 'machine-readable JSON output')
  .showHelpAfterError()

function globals(): GlobalOpts {
  return program.opts<GlobalOpts>()
}
function client(): ApiClient {
  const c = cliConfig(globals())
  return new ApiClient(c.url, c.token)
}
const printJson = (v: unknown): void => void process.stdout.write(JSON.stringify(v, null, 2) + '\n')
const collect = (value: string, previous: string[] = []) => [...previous, value]

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

function ago(iso: string | null): string {
  return iso ? `${formatDuration((Date.now() - Date.parse(iso)) / 1000)} ago` : ''
}
function runDuration(r: { started_at: string | null; finished_at: string | null }): string {
  if (!r.started_at) return ''
  return formatDuration(((r.finished_at ? Date.parse(r.finished_at) : Date.now()) - Date.parse(r.started_at)) / 1000)
}

/**
 * Streams a run until it ends: readable lines (or NDJSON events with --json) on stdout and a live
 * status line on stderr. Returns the exit code for the run's final status.
 * @param raw print the log lines as they are, not rendered.
 */
async function follow(api: ApiClient, runId: string, raw: boolean): Promise<number> {
  const json = globals().json
  const tty = process.stderr.isTTY && !json
  let status = 'queued'
  let started: string | null = null
  let statusShown = ''
  const statusLine = () => {
    const text = `● ${status}${started ? ` ${formatDuration((Date.now() - Date.parse(started)) / 1000)}` : ''}  run ${runId}`
    if (tty) process.stderr.write(`\r\x1b[2K${text}`)
    else if (status !== statusShown) process.stderr.write(`${text}\n`)
    statusShown = status
  }
  const clearStatus = () => {
    if (tty) process.stderr.write('\r\x1b[2K')
  }
  const poll = async () => {
    try {
      const r = await api.request(`GET`, `/runs/${runId}/record`)
      status = r.status
      started = r.started_at
    } catch {
      // the stream decides the outcome; a missed poll only delays the status line
    }
    statusLine()
  }
  await poll()
  const timer = setInterval(poll, 1000)
  try {
    for await (const m of api.stream(runId)) {
      if (m.event === 'end') {
        const end = JSON.parse(m.data) as { status: string; reason: string | null }
        status = end.status
        clearStatus()
        if (json) {
          printJson(await api.request('GET', `/runs/${runId}/record`))
        } else {
          process.stderr.write(`run ${runId} ${end.status}${end.reason ? ` (${end.reason})` : ''}\n`)
        }
        return end.status === 'succeeded' ? 0 : EXIT_RUN_FAILED
      }
      let text: string | null
      if (json) text = m.event === 'event' ? m.data : JSON.stringify({ type: 'log', line: m.data })
      else if (raw || m.event === 'log') text = m.data
      else {
        try {
          text = describeEvent(JSON.parse(m.data))
        } catch {
          text = m.data
        }
      }
      if (text === null) continue
      clearStatus()
      process.stdout.write(text + '\n')
      if (tty) statusLine()
    }
    return EXIT_ERROR
  } finally {
    clearInterval(timer)
  }
}

program
  .command('dispatch')
  .description('Queue a run. The prompt comes from the argument, --prompt-file, or stdin.')
  .argument('[prompt]', 'the task for the agent')
  .option('-f, --prompt-file <file>', 'read the prompt from a file')
  .option('--config-toml <toml>', 'Codex config for this run (TOML text)')
  .option('--config-file <file>', 'read config_toml from a file')
  .option('--state-key <key>', 'isolates Codex state and work directory (default "default")')
  .option('--workdir-rel <path>', "sub-directory of the state's work directory to run in")
  .option('-m, --model <model>', 'model override')
  .option('--conversation-id <uuid>', 'resume this Codex conversation')
  .option('--fork', 'with --conversation-id: fork it instead of resuming')
  .option('--pre-command <cmd>', 'shell command before the agent (repeatable)', collect)
  .option('--post-command <cmd>', 'shell command after the agent (repeatable)', collect)
  .option('--git-repo <url>', 'clone this repository')
  .option('--git-branch <branch>', 'create or reset this branch')
  .option('--git-base <branch>', 'base branch (default main)')
  .option('--git-clone-dir-rel <path>', 'clone directory inside the working directory (default repo)')
  .option('--git-push', 'commit and push the branch after the agent')
  .addOption(new Option('--timeout <seconds>', 'wall-clock limit in seconds').argParser((v) => Number(v)))
  .option('--idempotency-key <key>', 'a repeat with the same key returns the first run')
  .option('--follow', 'stream the log until the run ends; exit 1 unless it succeeded')
  .option('--raw', 'with --follow: print log lines as they are')
  .action(async (promptArg: string | undefined, o: Record<string, any>) => {
    let prompt = promptArg
    if (prompt === undefined && o.promptFile) prompt = fs.readFileSync(o.promptFile, 'utf8')
    if (prompt === undefined && !process.stdin.isTTY) prompt = await readStdin()
    if (!prompt || !prompt.trim()) throw new UsageError('no prompt: give it as an argument, with --prompt-file, or on stdin')
    const body: Record<string, unknown> = {
      prompt,
      config_toml: o.configFile ? fs.readFileSync(o.configFile, 'utf8') : (o.configToml ?? ''),
    }
    const fields: Array<[string, unknown]> = [
      ['state_key', o.stateKey], ['workdir_rel', o.workdirRel], ['model', o.model], ['conversation_id', o.conversationId],
      ['fork', o.fork], ['pre_commands', o.preCommand], ['post_commands', o.postCommand], ['git_repo', o.gitRepo],
      ['git_branch', o.gitBranch], ['git_base', o.gitBase], ['git_clone_dir_rel', o.gitCloneDirRel], ['git_push', o.gitPush],
      ['timeout_s', o.timeout],
    ]
    for (const [k, v] of fields) if (v !== undefined) body[k] = v
    const api = client()
    const res = await api.request('POST', '/dispatch', body, o.idempotencyKey ? { 'Idempotency-Key': o.idempotencyKey } : {})
    if (!o.follow) {
      if (globals().json) printJson(res)
      else process.stdout.write(`${res.run_id}\n`)
      return
    }
    if (!globals().json) process.stderr.write(`queued run ${res.run_id}\n`)
    process.exitCode = await follow(api, res.run_id, Boolean(o.raw))
  })

program
  .command('runs')
  .description('List recent runs, newest first')
  .option('-s, --status <status>', 'only runs with this status (queued, running, succeeded, failed, canceled)')
  .option('-n, --limit <n>', 'how many (1-500)', '20')
  .option('--before <run_id>', 'runs older than this one (paging)')
  .action(async (o: { status?: string; limit: string; before?: string }) => {
    const q = new URLSearchParams({ limit: o.limit })
    if (o.status) q.set('status', o.status)
    if (o.before) q.set('before', o.before)
    const page = await client().request('GET', `/runs?${q}`)
    if (globals().json) return printJson(page)
    const rows = [['RUN', 'STATUS', 'QUEUED', 'DURATION', 'STATE KEY', 'PROMPT']]
    for (const r of page.runs) {
      rows.push([r.run_id, r.status, ago(r.queued_at), runDuration(r), r.state_key, String(r.request.prompt).replace(/\s+/g, ' ').slice(0, 60)])
    }
    process.stdout.write(table(rows) + '\n')
    if (page.next_before) process.stdout.write(`more: --before ${page.next_before}\n`)
  })

program
  .command('show')
  .description('Show a run record')
  .argument('<run_id>')
  .action(async (id: string) => {
    const r = await client().request('GET', `/runs/${encodeURIComponent(id)}/record`)
    if (globals().json) return printJson(r)
    const lines: Array<[string, unknown]> = [
      ['run', r.run_id], ['status', r.status + (r.reason ? ` (${r.reason})` : '')], ['message', r.message],
      ['state key', r.state_key], ['queued', `${r.queued_at} (${ago(r.queued_at)})`], ['started', r.started_at],
      ['finished', r.finished_at], ['duration', runDuration(r)], ['exit code', r.exit_code], ['thread', r.thread_id],
      ['usage', r.usage && `${r.usage.input_tokens} in / ${r.usage.output_tokens} out tokens`],
      ['git', r.git && `${r.git.branch} ${r.git.commit ?? ''}${r.git.pushed ? ' (pushed)' : ''}`],
      ['summary', r.summary], ['prompt', r.request.prompt],
    ]
    process.stdout.write(table(lines.filter(([, v]) => v !== null && v !== undefined && v !== '').map(([k, v]) => [`${k}:`, String(v)])) + '\n')
  })

program
  .command('logs')
  .description("Print a run's log (raw JSON lines); --follow streams it until the run ends")
  .argument('<run_id>')
  .option('--follow', 'stream until the run ends; exit 1 unless it succeeded')
  .option('--pretty', 'render events readably instead of raw lines')
  .action(async (id: string, o: { follow?: boolean; pretty?: boolean }) => {
    const api = client()
    if (o.follow) {
      process.exitCode = await follow(api, id, !o.pretty)
      return
    }
    let offset = 0
    for (;;) {
      const w = await api.request('GET', `/runs/${encodeURIComponent(id)}/log?offset=${offset}&max_bytes=1000000`)
      process.stdout.write(w.content)
      if (w.next_offset >= w.size) break
      offset = w.next_offset
    }
  })

program
  .command('cancel')
  .description('Cancel a queued or running run')
  .argument('<run_id>')
  .action(async (id: string) => {
    const r = await client().request('POST', `/runs/${encodeURIComponent(id)}/cancel`)
    if (globals().json) printJson(r)
    else process.stdout.write(`run ${r.run_id} ${r.status === 'canceled' ? 'canceled' : 'stopping'}\n`)
  })

const projects = program.command('projects').description('Natural-language projects (/api/v1/projects)')
const showProject = (p: Record<string, any>) => {
  process.stdout.write(table([
    ['project:', p.project_id], ['status:', String(p.status ?? '')], ['instruction:', p.instruction],
    ['summary:', String(p.summary ?? '')], ['jobs:', String(p.job_count ?? '')],
  ]) + '\n')
  for (const j of p.jobs ?? []) process.stdout.write(`  ${j.job_id}  ${j.job_type.padEnd(15)} ${j.status.padEnd(9)} ${String(j.instruction).slice(0, 60)}\n`)
}
projects
  .command('list')
  .description('List projects')
  .action(async () => {
    const res = await client().request('GET', '/api/v1/projects')
    if (globals().json) return printJson(res)
    const rows = [['PROJECT', 'STATUS', 'UPDATED', 'JOBS', 'INSTRUCTION']]
    for (const p of res.projects) rows.push([p.project_id, String(p.status ?? ''), ago(p.updated_at), String(p.job_count), String(p.instruction).slice(0, 60)])
    process.stdout.write(table(rows) + '\n')
  })
projects
  .command('show')
  .description('A project with its jobs')
  .argument('<project_id>')
  .action(async (id: string) => {
    const p = await client().request('GET', `/api/v1/projects/${encodeURIComponent(id)}`)
    if (globals().json) printJson(p)
    else showProject(p)
  })
projects
  .command('create')
  .description('Create a project from an instruction (its initial job starts at once)')
  .argument('<instruction...>')
  .option('--config-toml <toml>', "Codex config for the project's jobs (TOML text)")
  .option('--config-file <file>', 'read config_toml from a file')
  .option('-m, --model <model>', 'model override')
  .option('--follow', "stream the initial job's log until it ends")
  .action(async (words: string[], o: { follow?: boolean; configToml?: string; configFile?: string; model?: string }) => {
    const api = client()
    const body: Record<string, unknown> = { instruction: words.join(' ') }
    const config = o.configFile ? fs.readFileSync(o.configFile, 'utf8') : o.configToml
    if (config !== undefined) body.config_toml = config
    if (o.model) body.model = o.model
    const p = await api.request('POST', '/api/v1/projects', body)
    if (globals().json && !o.follow) printJson(p)
    else if (!globals().json) showProject(p)
    if (o.follow && p.latest_job_id) process.exitCode = await follow(api, p.latest_job_id, false)
  })
projects
  .command('edit')
  .description('Start an edit job on a project')
  .argument('<project_id>')
  .argument('<instruction...>')
  .option('--follow', "stream the job's log until it ends")
  .action(async (id: string, words: string[], o: { follow?: boolean }) => {
    const api = client()
    const job = await api.request('POST', `/api/v1/projects/${encodeURIComponent(id)}/jobs`, { job_type: 'edit', instruction: words.join(' ') })
    if (globals().json && !o.follow) printJson(job)
    else if (!globals().json) process.stdout.write(`job ${job.job_id} ${job.status}\n`)
    if (o.follow) process.exitCode = await follow(api, job.run_id, false)
  })
projects
  .command('files')
  .description("List a project's workspace files")
  .argument('<project_id>')
  .action(async (id: string) => {
    const res = await client().request('GET', `/api/v1/projects/${encodeURIComponent(id)}/files`)
    if (globals().json) return printJson(res)
    for (const f of res.files) process.stdout.write(`${String(f.size).padStart(10)}  ${f.path}\n`)
  })
projects
  .command('cat')
  .description('Print one workspace file')
  .argument('<project_id>')
  .argument('<path>')
  .action(async (id: string, file: string) => {
    const encoded = file.split('/').map(encodeURIComponent).join('/')
    const res = await client().request('GET', `/api/v1/projects/${encodeURIComponent(id)}/files/${encoded}`)
    if (globals().json) return printJson(res)
    process.stdout.write(res.encoding === 'base64' ? Buffer.from(res.contents, 'base64') : res.contents)
  })

class UsageError extends Error {}

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof ApiError) {
    if (globals().json) process.stderr.write(JSON.stringify({ error: { status: err.status, code: err.code, message: err.message, details: err.details ?? null } }) + '\n')
    else process.stderr.write(`codex-dispatcher: ${err.message}${err.status ? ` (HTTP ${err.status}, ${err.code})` : ''}\n`)
    const fields = (err.details as { fields?: Array<{ field: string; message: string }> } | undefined)?.fields
    if (fields && !globals().json) for (const f of fields) process.stderr.write(`  ${f.field}: ${f.message}\n`)
  } else if (err instanceof UsageError) {
    process.stderr.write(`codex-dispatcher: ${err.message}\n`)
  } else {
    process.stderr.write(`codex-dispatcher: ${(err as Error).stack ?? err}\n`)
  }
  process.exitCode = EXIT_ERROR
})
