/**
 * One run, start to end: bundle → working directory → git → pre_commands → Codex →
 * post_commands → commit and push → result.json (SPEC section 4). Every step is logged to run.log.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { readBundle, readRunIdLoosely, writeJsonAtomic, type Bundle, type RunnerSettings } from './bundle.js'
import { Children } from './children.js'
import { codexArgs, findRollout, runCodex, RunProfile, SECRET_ENV_NAMES, secretExcludeOverride, type CodexOutcome } from './codex.js'
import { BUNDLE_FILES, type CommandOutcome, type RunFailureReason, type RunMeta, type RunResult } from './contract.js'
import { Git, GitError } from './git.js'
import { RunLog } from './log.js'
import { diffSnapshots, snapshot, writeProjectRequest, writeProjectResult, type Snapshot } from './project.js'

/** A step that ends the run as failed with a known reason. */
class RunFailure extends Error {
  constructor(
    readonly reason: RunFailureReason,
    message: string,
  ) {
    super(message)
  }
}

/** How long children get between SIGTERM and SIGKILL on cancel (ms). */
const KILL_GRACE_MS = 3000

/**
 * Executes one run. {@link Runner.run} never throws: every outcome, including a broken bundle or
 * an unexpected exception, ends in result.json. {@link Runner.cancel} (on SIGTERM/SIGINT) stops the
 * children; the run then ends failed with reason `canceled`.
 */
export class Runner {
  private readonly children = new Children()
  private readonly log: RunLog
  private readonly notes: string[] = []
  private readonly startedAt = new Date().toISOString()
  private canceled = false
  private resultWritten = false
  private result: RunResult

  /**
   * Opens run.log in the bundle directory. `env` is the runner's own environment; children get a
   * copy without the credentials, except Codex (model keys) and git (GIT_TOKEN, via askpass).
   * Throws when run.log cannot be opened (the bundle directory is missing or not writable).
   */
  constructor(
    private readonly settings: RunnerSettings,
    private readonly env: NodeJS.ProcessEnv,
  ) {
    const secrets = [...settings.modelKeys, ...(settings.gitToken ? [settings.gitToken] : [])]
    this.log = new RunLog(path.join(settings.bundleDir, BUNDLE_FILES.log), secrets)
    this.result = {
      run_id: readRunIdLoosely(settings.bundleDir),
      status: 'failed',
      reason: 'runner_error',
      message: null,
      codex_exit_code: null,
      thread_id: null,
      rollout_path: null,
      usage: null,
      summary: null,
      pre_commands: [],
      post_commands: [],
      git: null,
      started_at: this.startedAt,
      finished_at: this.startedAt,
    }
  }

  /** Marks the run canceled and stops its children (SIGTERM to each process group, then SIGKILL). */
  cancel(signal: string): void {
    if (this.canceled) return
    this.canceled = true
    this.log.event('cancel', { signal })
    this.children.terminate(KILL_GRACE_MS)
  }

  /**
   * Writes a `canceled` result now if none is written yet; for when the steps do not wind down in
   * time after {@link Runner.cancel}.
   */
  abandon(): RunResult {
    if (this.resultWritten) return this.result
    this.fail('canceled', 'the runner was stopped before the run finished')
    this.finish()
    return this.result
  }

  /** Runs every step and writes result.json; resolves with the result. */
  async run(): Promise<RunResult> {
    let bundle: Bundle | null = null
    let before: Snapshot | null = null
    try {
      this.log.event('started', { pid: process.pid, uid: process.getuid?.(), node: process.version })
      bundle = readBundle(this.settings.bundleDir)
      this.result.run_id = bundle.meta.run_id
      this.log.event('bundle.read', { meta: bundle.meta, prompt_bytes: Buffer.byteLength(bundle.prompt) })
      const cwd = await this.prepareWorkdir(bundle.meta)
      await this.runCommands('pre', bundle.meta.pre_commands, cwd, this.result.pre_commands, 'pre_command_failed')
      if (bundle.meta.project) {
        writeProjectRequest(this.settings.workspace, bundle.meta.project)
        before = snapshot(this.settings.workspace)
      }
      await this.runAgent(bundle, cwd)
      await this.runCommands('post', bundle.meta.post_commands, cwd, this.result.post_commands, 'post_command_failed')
      if (bundle.meta.git?.push) await this.push(bundle.meta, cwd)
      this.result.status = 'succeeded'
      this.result.reason = null
    } catch (err) {
      if (this.canceled) this.fail('canceled', 'the run was canceled')
      else if (err instanceof RunFailure) this.fail(err.reason, err.message)
      else if (err instanceof GitError) this.fail('git_failed', err.message)
      else this.fail('runner_error', err instanceof Error ? err.message : String(err))
    }
    if (bundle?.meta.project) this.finishProject(before)
    this.finish()
    return this.result
  }

  private fail(reason: RunFailureReason, message: string): void {
    this.result.status = 'failed'
    this.result.reason = reason
    this.result.message = this.log.redact(message)
    this.notes.push(`failed: ${reason}: ${this.result.message}`)
  }

  private finish(): void {
    if (this.resultWritten) return
    this.resultWritten = true
    this.result.finished_at = new Date().toISOString()
    try {
      writeJsonAtomic(path.join(this.settings.bundleDir, BUNDLE_FILES.result), this.result)
    } catch (err) {
      this.log.event('error', { message: `cannot write result.json: ${(err as Error).message}` })
      throw err
    }
    this.log.event('finished', { status: this.result.status, reason: this.result.reason, message: this.result.message })
  }

  private throwIfCanceled(): void {
    if (this.canceled) throw new RunFailure('canceled', 'the run was canceled')
  }

  /** Environment of every child: the runner's own minus the credentials. */
  private childEnv(): NodeJS.ProcessEnv {
    const env = { ...this.env }
    for (const name of SECRET_ENV_NAMES) delete env[name]
    return env
  }

  /** Creates `<workspace>/<workdir_rel>`, clones when the run has git; returns the final working dir. */
  private async prepareWorkdir(meta: RunMeta): Promise<string> {
    const workdir = path.join(this.settings.workspace, meta.workdir_rel ?? '')
    fs.mkdirSync(workdir, { recursive: true })
    this.log.event('workdir.ready', { path: workdir })
    if (!meta.git) return workdir
    const cloneDir = path.join(workdir, meta.git.clone_dir_rel)
    this.result.git = { branch: meta.git.branch, commit: null, pushed: false }
    const head = await this.git().prepare(meta.git, cloneDir)
    this.log.event('git.cloned', { path: cloneDir, branch: meta.git.branch, base: meta.git.base, commit: head })
    this.notes.push(`git: ${meta.git.branch} reset to origin/${meta.git.base} at ${head}`)
    this.throwIfCanceled()
    return cloneDir
  }

  private git(): Git {
    return new Git(this.log, this.children, this.childEnv(), this.settings.gitToken)
  }

  /** Runs `commands` one by one with `bash -lc` in `cwd`; stops at the first non-zero exit. */
  private async runCommands(
    phase: 'pre' | 'post',
    commands: string[],
    cwd: string,
    outcomes: CommandOutcome[],
    reason: RunFailureReason,
  ): Promise<void> {
    for (const [index, command] of commands.entries()) {
      this.log.event('command.started', { phase, index, command })
      const onLine = (stream: string) => (line: string) => this.log.event('command.output', { phase, index, stream, line })
      const { code } = await this.children.run('bash', ['-lc', command], { cwd, env: this.childEnv() }, onLine('stdout'), onLine('stderr'))
      this.log.event('command.finished', { phase, index, command, exit_code: code })
      outcomes.push({ command, exit_code: code })
      this.notes.push(`${phase}_command ${index} exited ${code}: ${this.log.redact(command)}`)
      this.throwIfCanceled()
      if (code !== 0) throw new RunFailure(reason, `${phase}_command ${index} exited with ${code}`)
    }
  }

  /** Runs Codex with the run's config layered as a profile, records its outcome in the result. */
  private async runAgent(bundle: Bundle, cwd: string): Promise<void> {
    const { codexHome } = this.settings
    const profile = new RunProfile(codexHome, bundle.meta.run_id, bundle.configToml)
    const args = codexArgs(bundle.meta, {
      cwd,
      profile: profile.name,
      excludeOverride: secretExcludeOverride(codexHome, bundle.configToml),
      prompt: bundle.prompt,
    })
    const env: NodeJS.ProcessEnv = { ...this.childEnv(), CODEX_HOME: codexHome }
    for (const name of ['OPENAI_API_KEY', 'CODEX_API_KEY'] as const) if (this.env[name]) env[name] = this.env[name]
    this.log.event('codex.started', { bin: this.settings.codexBin, args: args.slice(0, -1), prompt_bytes: Buffer.byteLength(bundle.prompt) })
    let outcome: CodexOutcome
    try {
      outcome = await runCodex(this.log, this.children, this.settings.codexBin, args, cwd, env)
    } finally {
      profile.remove()
    }
    this.result.codex_exit_code = outcome.exitCode
    this.result.thread_id = outcome.threadId
    this.result.usage = outcome.usage
    this.result.summary = outcome.lastMessage
    this.result.rollout_path = outcome.threadId ? findRollout(codexHome, outcome.threadId) : null
    this.log.event('codex.exited', { exit_code: outcome.exitCode, thread_id: outcome.threadId, rollout_path: this.result.rollout_path })
    this.notes.push(`codex exited ${outcome.exitCode}${outcome.threadId ? ` (thread ${outcome.threadId})` : ''}`)
    this.throwIfCanceled()
    if (outcome.exitCode !== 0) throw new RunFailure('codex_failed', `codex exited with ${outcome.exitCode}`)
  }

  /** Commits the clone's changes on the run's branch and pushes it. */
  private async push(meta: RunMeta, cloneDir: string): Promise<void> {
    const git = meta.git!
    const commit = await this.git().commitAndPush(cloneDir, git.branch, `codex run ${meta.run_id}`)
    this.result.git = { branch: git.branch, commit, pushed: true }
    this.log.event('git.pushed', { branch: git.branch, commit })
    this.notes.push(`git: pushed ${git.branch} at ${commit}`)
  }

  /** Writes the project's `.codex/result.json` from the snapshot taken before the agent (if any). */
  private finishProject(before: Snapshot | null): void {
    const { created, modified } = before ? diffSnapshots(before, snapshot(this.settings.workspace)) : { created: [], modified: [] }
    const ok = this.result.status === 'succeeded'
    writeProjectResult(this.settings.workspace, {
      status: ok ? 'success' : 'error',
      summary: this.result.summary,
      created_files: created,
      modified_files: modified,
      errors: ok ? [] : [`${this.result.reason}: ${this.result.message}`],
      logs: this.notes,
    })
    this.log.event('project.result', { created_files: created, modified_files: modified })
  }
}

/**
 * A writable HOME for the runner's children: `$HOME` when it is a writable directory other than
 * `/`, else `<tmpdir>/runner-home-<uid>` (created, mode 700) — for containers started with a
 * `--user` that has no home in the image.
 */
export function writableHome(home: string | undefined): string {
  if (home && home !== '/') {
    try {
      fs.accessSync(home, fs.constants.W_OK)
      return home
    } catch {
      // Not writable: fall through to the temp home.
    }
  }
  const fallback = path.join(os.tmpdir(), `runner-home-${process.getuid?.() ?? 'user'}`)
  fs.mkdirSync(fallback, { recursive: true, mode: 0o700 })
  return fallback
}
