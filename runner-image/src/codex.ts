/**
 * Running `codex exec --json` for a run and reading what it reports.
 *
 * Codex JSONL events (`codex exec --json`, @openai/codex 0.169.0): `thread.started` {thread_id},
 * `turn.started`, `item.started` / `item.completed` {item: {type: agent_message | command_execution |
 * file_change | …}}, `turn.completed` {usage}, `turn.failed`, `error`.
 */
import fs from 'node:fs'
import path from 'node:path'
import { parse as parseToml } from 'smol-toml'
import type { Children } from './children.js'
import type { RunMeta, RunUsage } from './contract.js'
import type { RunLog } from './log.js'

/** Variables the agent's shell commands must never see (Codex `shell_environment_policy.exclude`). */
export const SECRET_ENV_NAMES = ['OPENAI_API_KEY', 'CODEX_API_KEY', 'GIT_TOKEN'] as const

/** What a Codex process reported on stdout, plus its exit code. */
export interface CodexOutcome {
  exitCode: number
  threadId: string | null
  /** Sum of every `turn.completed` usage of this process. */
  usage: RunUsage | null
  /** Text of the last `agent_message` item. */
  lastMessage: string | null
}

/**
 * The run's config as a Codex profile: `$CODEX_HOME/<name>.config.toml`, layered by `codex -p <name>`
 * on top of the state's own config.toml. Written before Codex starts and removed after it exits, so
 * a run's config never reaches a later run of the same state.
 */
export class RunProfile {
  readonly name: string
  readonly file: string

  /** Writes `configToml` for run `runId` into `codexHome` (created if missing). */
  constructor(codexHome: string, runId: string, configToml: string) {
    this.name = `dispatch-run-${runId.replace(/[^A-Za-z0-9_-]/g, '_')}`
    this.file = path.join(codexHome, `${this.name}.config.toml`)
    fs.mkdirSync(codexHome, { recursive: true })
    fs.writeFileSync(this.file, configToml)
  }

  /** Removes the profile file. */
  remove(): void {
    fs.rmSync(this.file, { force: true })
  }
}

/** `shell_environment_policy.exclude` of a TOML document, or [] when absent or unreadable. */
function excludesOf(tomlText: string): string[] {
  try {
    const doc = parseToml(tomlText) as { shell_environment_policy?: { exclude?: unknown } }
    const list = doc.shell_environment_policy?.exclude
    return Array.isArray(list) ? list.filter((v): v is string => typeof v === 'string') : []
  } catch {
    return []
  }
}

/**
 * The `-c shell_environment_policy.exclude=[…]` override: the patterns of the state's config.toml
 * and the run's config, plus {@link SECRET_ENV_NAMES}. A `-c` override wins over every config
 * file, so no config can let the agent's commands see the credentials.
 */
export function secretExcludeOverride(codexHome: string, runConfigToml: string): string {
  const baseFile = path.join(codexHome, 'config.toml')
  const base = fs.existsSync(baseFile) ? fs.readFileSync(baseFile, 'utf8') : ''
  const names = [...new Set([...excludesOf(base), ...excludesOf(runConfigToml), ...SECRET_ENV_NAMES])]
  return `shell_environment_policy.exclude=${JSON.stringify(names)}`
}

/**
 * argv for `codex` (after the executable): `exec` options first — `resume` and `fork` accept only
 * a few of them (checked against `codex exec resume --help` of 0.169.0) — then
 * `resume <id>` / `fork <id>` when the run continues a conversation, then the prompt.
 */
export function codexArgs(meta: RunMeta, opts: { cwd: string; profile: string; excludeOverride: string; prompt: string }): string[] {
  const args = [
    'exec', '--json', '--skip-git-repo-check',
    '--sandbox', 'danger-full-access',
    '-C', opts.cwd,
    '-p', opts.profile,
    '-c', opts.excludeOverride,
  ]
  if (meta.model) args.push('-m', meta.model)
  if (meta.conversation_id) args.push(meta.fork ? 'fork' : 'resume', meta.conversation_id)
  args.push('--', opts.prompt)
  return args
}

/** Reads the facts a run records from one stdout line; returns false when the line is not JSON. */
function observe(outcome: CodexOutcome, line: string): boolean {
  let event: { type?: string; thread_id?: string; usage?: Partial<RunUsage>; item?: { type?: string; text?: string } }
  try {
    event = JSON.parse(line)
  } catch {
    return false
  }
  if (event.type === 'thread.started' && event.thread_id) outcome.threadId = event.thread_id
  if (event.type === 'turn.completed' && event.usage) {
    const u = outcome.usage ?? { input_tokens: 0, cached_input_tokens: 0, output_tokens: 0 }
    outcome.usage = {
      input_tokens: u.input_tokens + (event.usage.input_tokens ?? 0),
      cached_input_tokens: u.cached_input_tokens + (event.usage.cached_input_tokens ?? 0),
      output_tokens: u.output_tokens + (event.usage.output_tokens ?? 0),
    }
  }
  if (event.type === 'item.completed' && event.item?.type === 'agent_message' && typeof event.item.text === 'string') {
    outcome.lastMessage = event.item.text
  }
  return true
}

/**
 * Runs Codex with `args` in `cwd`. stdout JSON lines go to run.log unchanged (a non-JSON line is
 * wrapped as `runner.codex.stdout`), stderr lines as `runner.codex.stderr` events.
 */
export async function runCodex(
  log: RunLog,
  children: Children,
  bin: string,
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv,
): Promise<CodexOutcome> {
  const outcome: CodexOutcome = { exitCode: -1, threadId: null, usage: null, lastMessage: null }
  const { code } = await children.run(bin, args, { cwd, env }, (line) => {
    if (observe(outcome, line)) log.line(line)
    else log.event('codex.stdout', { line })
  }, (line) => log.event('codex.stderr', { line }))
  outcome.exitCode = code
  return outcome
}

/**
 * The rollout file of `threadId`, relative to `codexHome`: Codex writes
 * `sessions/YYYY/MM/DD/rollout-<time>-<thread_id>.jsonl`. Null when there is none.
 */
export function findRollout(codexHome: string, threadId: string): string | null {
  const sessions = path.join(codexHome, 'sessions')
  if (!fs.existsSync(sessions)) return null
  const suffix = `-${threadId}.jsonl`
  const match = fs
    .readdirSync(sessions, { recursive: true, encoding: 'utf8' })
    .filter((rel) => path.basename(rel).startsWith('rollout-') && rel.endsWith(suffix))
    .sort()
    .pop()
  return match ? path.join('sessions', match) : null
}
