/**
 * The scheduler: claims queued runs (woken by Postgres LISTEN/NOTIFY, with a slow poll as a
 * safety net), starts one runner per run through a {@link RunnerDriver}, enforces the per-run
 * timeout, and collects each runner's result into exactly one final status.
 *
 * Lifecycle (pg-boss style, one owner for every timer, listener and runner watch):
 *   start()  LISTEN, reconcile runs left "running" by an earlier process, begin claiming
 *   stop()   stop claiming and watching; runners keep running and are re-attached on next start
 */
import crypto from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'
import pg from 'pg'
import type { Knex } from 'knex'
import type { Logger } from 'pino'
import {
  BUNDLE_FILES,
  type RunMeta,
  type RunProjectSpec,
  type RunResult,
} from '../../../runner-image/src/contract.js'
import type { DataLayout } from '../drivers/layout.js'
import type { RunnerDriver } from '../drivers/driver.js'
import {
  QUEUE_CHANNEL,
  claimNextRun,
  finishRun,
  getRun,
  listRunningRuns,
  requestStop,
  setRunner,
  type RunOutcome,
  type RunRow,
} from './store.js'

export interface SchedulerOptions {
  knex: Knex
  /** Connection string for the dedicated LISTEN connection. */
  databaseUrl: string
  driver: RunnerDriver
  layout: DataLayout
  log: Logger
  /** Runs at once on this host. */
  concurrency: number
  /** Safety-net poll interval, ms. */
  pollIntervalMs: number
  /** Environment every runner gets (secrets and RUNNER_ENV_JSON). */
  runnerEnv: Record<string, string>
  /** Contents of a Codex auth.json copied into each new state's Codex home, if any. */
  codexAuthJson?: string
  /** Seconds a stopping runner gets between SIGTERM and SIGKILL. */
  stopGraceS?: number
  /**
   * Resolves the workspace and project identity of a run bound to a project (projects API);
   * returns null for plain runs.
   */
  projectOf?: (run: RunRow) => Promise<ProjectBinding | null>
}

/** How a claimed run is bound to a project (projects API). */
export interface ProjectBinding {
  /** Host path of the project's workspace, mounted as the run's workspace. */
  workspace: string
  project: RunProjectSpec
  /** Codex thread to resume when the run's own request names none (an edit continues the project). */
  conversationId: string | null
}

interface ActiveRun {
  timer?: NodeJS.Timeout
}

/** Events the scheduler emits to in-process listeners (metrics, streams). */
export type SchedulerEvent =
  | { type: 'run.started'; run: RunRow }
  | { type: 'run.finished'; run: RunRow }

export class Scheduler {
  /** Identifies this scheduler in `runs.claimed_by`. */
  readonly id = `scheduler-${crypto.randomUUID()}`
  private readonly active = new Map<string, ActiveRun>()
  private listener: pg.Client | null = null
  private pollTimer: NodeJS.Timeout | null = null
  private reconnectTimer: NodeJS.Timeout | null = null
  private ticking: Promise<void> | null = null
  private tickAgain = false
  private stopped = true
  private readonly watchers = new Set<Promise<void>>()
  private readonly subscribers = new Set<(e: SchedulerEvent) => void>()

  constructor(private readonly opts: SchedulerOptions) {}

  /** Number of runs this scheduler is executing now. */
  get activeCount(): number {
    return this.active.size
  }

  /** Subscribes to run lifecycle events; returns the unsubscribe function. */
  subscribe(fn: (e: SchedulerEvent) => void): () => void {
    this.subscribers.add(fn)
    return () => this.subscribers.delete(fn)
  }

  /** Starts listening, reconciles left-over running runs, and begins claiming. */
  async start(): Promise<void> {
    this.stopped = false
    await this.listen()
    await this.reconcile()
    this.pollTimer = setInterval(() => this.tick(), this.opts.pollIntervalMs)
    this.tick()
  }

  /** Stops claiming and watching. Runners are left running; a later start re-attaches to them. */
  async stop(): Promise<void> {
    this.stopped = true
    if (this.pollTimer) clearInterval(this.pollTimer)
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer)
    for (const a of this.active.values()) if (a.timer) clearTimeout(a.timer)
    const listener = this.listener
    this.listener = null
    await listener?.end().catch(() => {})
    await this.ticking
  }

  /** Wakes the claim loop (also called on NOTIFY). Never throws; errors are logged. */
  tick(): void {
    if (this.stopped) return
    if (this.ticking) {
      this.tickAgain = true
      return
    }
    this.ticking = this.claimLoop()
      .catch((err) => this.opts.log.error({ err }, 'claim loop failed'))
      .finally(() => {
        this.ticking = null
        if (this.tickAgain) {
          this.tickAgain = false
          this.tick()
        }
      })
  }

  /**
   * Stops a running run on request: records the reason first (so a restart in between still ends
   * the run `canceled`), then stops its runner. The watcher collects it.
   * @returns false when the run is not running.
   */
  async cancel(runId: string): Promise<boolean> {
    const row = await requestStop(this.opts.knex, runId, 'canceled')
    if (!row) return false
    await this.opts.driver.stop(runId, this.opts.stopGraceS ?? 10)
    return true
  }

  /** Resolves once every runner this scheduler watches has been collected (tests, drain). */
  async drain(): Promise<void> {
    while (this.watchers.size > 0) await Promise.all([...this.watchers])
  }

  private emit(e: SchedulerEvent): void {
    for (const fn of this.subscribers) fn(e)
  }

  private async listen(): Promise<void> {
    const client = new pg.Client({ connectionString: this.opts.databaseUrl })
    client.on('notification', () => this.tick())
    client.on('error', (err) => {
      this.opts.log.warn({ err }, 'LISTEN connection lost; reconnecting')
      this.listener = null
      client.end().catch(() => {})
      if (!this.stopped) {
        this.reconnectTimer = setTimeout(() => {
          this.listen().then(() => this.tick(), () => {})
        }, 1000)
      }
    })
    await client.connect()
    await client.query(`LISTEN ${QUEUE_CHANNEL}`)
    this.listener = client
  }

  private async claimLoop(): Promise<void> {
    while (!this.stopped && this.active.size < this.opts.concurrency) {
      const run = await claimNextRun(this.opts.knex, this.id)
      if (!run) return
      this.active.set(run.id, {})
      this.track(this.launch(run))
    }
  }

  private track(p: Promise<void>): void {
    const watched = p.catch((err) => this.opts.log.error({ err }, 'run watcher failed'))
    this.watchers.add(watched)
    void watched.finally(() => this.watchers.delete(watched))
  }

  /** Writes the bundle and starts the runner of a freshly claimed run, then watches it. */
  private async launch(run: RunRow): Promise<void> {
    const { driver, knex, log } = this.opts
    let runnerId: string
    try {
      const spec = await this.prepare(run)
      runnerId = await driver.start(spec)
    } catch (err) {
      log.error({ err, run_id: run.id }, 'runner failed to start')
      await driver.remove(run.id).catch(() => {})
      await this.finish(run.id, {
        status: 'failed',
        exit_code: null,
        reason: 'runner_start_failed',
        message: `the runner could not be started: ${(err as Error).message}`,
      })
      return
    }
    await setRunner(knex, run.id, runnerId)
    log.info({ run_id: run.id, runner: runnerId, state_key: run.state_key }, 'run started')
    this.emit({ type: 'run.started', run: { ...run, container_id: runnerId } })
    // A cancel that arrived between the claim and the start found no runner to stop.
    const fresh = await getRun(knex, run.id)
    if (fresh?.stop_reason) await driver.stop(run.id, this.opts.stopGraceS ?? 10)
    await this.watch(fresh ?? run)
  }

  /** Creates the run's directories and bundle; returns the runner spec. */
  private async prepare(run: RunRow) {
    const { layout } = this.opts
    const bundleDir = layout.runDir(run.id)
    const codexHome = layout.codexHome(run.state_key)
    const project = (await this.opts.projectOf?.(run)) ?? null
    const workspace = project?.workspace ?? layout.stateWorkdir(run.state_key)
    await layout.ensureOwnedDirs(bundleDir, codexHome, workspace)
    if (this.opts.codexAuthJson) {
      const auth = path.join(codexHome, 'auth.json')
      const exists = await fs.stat(auth).then(() => true, () => false)
      if (!exists) await layout.writeOwnedFile(auth, this.opts.codexAuthJson, 0o600)
    }
    const r = run.request
    const meta: RunMeta = {
      run_id: run.id,
      state_key: run.state_key,
      workdir_rel: r.workdir_rel,
      model: r.model,
      conversation_id: r.conversation_id ?? project?.conversationId ?? null,
      fork: r.fork,
      pre_commands: r.pre_commands,
      post_commands: r.post_commands,
      git:
        r.git_repo && r.git_branch
          ? { repo: r.git_repo, branch: r.git_branch, base: r.git_base, clone_dir_rel: r.git_clone_dir_rel, push: r.git_push }
          : null,
      project: project?.project ?? null,
    }
    await layout.writeOwnedFile(path.join(bundleDir, BUNDLE_FILES.prompt), run.prompt)
    await layout.writeOwnedFile(path.join(bundleDir, BUNDLE_FILES.config), run.config_toml)
    await layout.writeOwnedFile(path.join(bundleDir, BUNDLE_FILES.meta), JSON.stringify(meta, null, 2))
    return { runId: run.id, bundleDir, codexHome, workspace, env: this.opts.runnerEnv }
  }

  /** Waits for a running run's runner (with its timeout armed) and collects it. */
  private async watch(run: RunRow): Promise<void> {
    const entry = this.active.get(run.id) ?? {}
    this.active.set(run.id, entry)
    const started = run.started_at ? new Date(run.started_at).getTime() : Date.now()
    const remainingMs = Math.max(0, started + run.timeout_s * 1000 - Date.now())
    entry.timer = setTimeout(() => {
      requestStop(this.opts.knex, run.id, 'timeout')
        .then((row) => (row ? this.opts.driver.stop(run.id, this.opts.stopGraceS ?? 10) : undefined))
        .catch((err) => this.opts.log.error({ err, run_id: run.id }, 'stopping a timed-out run failed'))
    }, remainingMs)
    let exitCode: number | null
    try {
      exitCode = await this.opts.driver.wait(run.id)
    } catch (err) {
      this.opts.log.warn({ err, run_id: run.id }, 'runner vanished')
      exitCode = null
    }
    await this.collect(run.id, exitCode)
  }

  /**
   * Turns an ended runner into the run's final status: the stop reason the control plane recorded
   * wins (canceled, timeout), then the runner's result.json, then the bare exit code.
   * @param exitCode the runner's exit code, or null when it vanished.
   */
  private async collect(runId: string, exitCode: number | null): Promise<void> {
    const result = await readResult(this.opts.layout.runResult(runId))
    // The result is on disk, so the runner can go before the status is written: a crash in
    // between is reconciled from result.json, and clients never see a final run with a container.
    await this.opts.driver.remove(runId).catch((err) => this.opts.log.warn({ err, run_id: runId }, 'removing runner failed'))
    // Postgres may be restarting: keep trying, the outcome is already known. On shutdown the
    // next start's reconcile finishes the job from result.json.
    for (let delayMs = 500; !this.stopped; delayMs = Math.min(delayMs * 2, 15_000)) {
      try {
        const row = await getRun(this.opts.knex, runId)
        if (row && row.status === 'running') await this.finish(runId, decideOutcome(row, exitCode, result))
        break
      } catch (err) {
        this.opts.log.warn({ err, run_id: runId, retry_in_ms: delayMs }, 'recording the run outcome failed; retrying')
        await new Promise((r) => setTimeout(r, delayMs))
      }
    }
    this.release(runId)
  }

  private async finish(runId: string, outcome: RunOutcome): Promise<void> {
    const finished = await finishRun(this.opts.knex, runId, outcome)
    if (finished) {
      await appendLogLine(this.opts.layout.runLog(runId), {
        type: 'dispatcher.run.finished',
        ts: new Date().toISOString(),
        status: finished.status,
        reason: finished.reason,
        message: finished.message,
      })
      this.opts.log.info({ run_id: runId, status: finished.status, reason: finished.reason }, 'run finished')
      this.emit({ type: 'run.finished', run: finished })
    }
    this.release(runId)
  }

  private release(runId: string): void {
    const entry = this.active.get(runId)
    if (!entry) return
    if (entry.timer) clearTimeout(entry.timer)
    this.active.delete(runId)
    this.tick()
  }

  /**
   * Brings runs marked running in line with the runners that exist: re-attach to a live one,
   * collect an exited one, and end a vanished one (its result.json decides, else it failed).
   */
  private async reconcile(): Promise<void> {
    for (const run of await listRunningRuns(this.opts.knex)) {
      if (this.active.has(run.id)) continue
      const state = await this.opts.driver.inspect(run.id)
      this.opts.log.info({ run_id: run.id, runner: state.state }, 'reconciling run left running')
      this.active.set(run.id, {})
      if (state.state === 'running') this.track(this.watch(run))
      else this.track(this.collect(run.id, state.state === 'exited' ? state.exitCode : null))
    }
  }
}

/**
 * The final status of a run from what is known when its runner has ended.
 * @param exitCode runner exit code, or null when the runner vanished.
 * @param result the runner's result.json, or null when it wrote none.
 */
export function decideOutcome(row: RunRow, exitCode: number | null, result: RunResult | null): RunOutcome {
  const fromResult: Partial<RunOutcome> = result
    ? {
        thread_id: result.thread_id,
        rollout_path: result.rollout_path,
        usage: result.usage,
        summary: result.summary,
        pre_commands: result.pre_commands,
        post_commands: result.post_commands,
        git: result.git,
      }
    : {}
  if (row.stop_reason === 'canceled') {
    return { ...fromResult, status: 'canceled', exit_code: exitCode, reason: 'canceled', message: 'canceled by request' }
  }
  if (row.stop_reason === 'timeout') {
    return {
      ...fromResult,
      status: 'failed',
      exit_code: exitCode,
      reason: 'timeout',
      message: `stopped after its wall-clock limit of ${row.timeout_s} s`,
    }
  }
  if (result) {
    return { ...fromResult, status: result.status, exit_code: exitCode, reason: result.reason, message: result.message }
  }
  if (exitCode === null) {
    return {
      status: 'failed',
      exit_code: null,
      reason: 'runner_vanished',
      message: 'the runner disappeared (container or process gone) before writing its result',
    }
  }
  return {
    status: 'failed',
    exit_code: exitCode,
    reason: 'runner_error',
    message: `the runner exited with code ${exitCode} without writing result.json`,
  }
}

/** Reads and parses result.json; null when absent or not valid JSON. */
async function readResult(file: string): Promise<RunResult | null> {
  try {
    return JSON.parse(await fs.readFile(file, 'utf8')) as RunResult
  } catch {
    return null
  }
}

/** Appends one JSON line to a run's log, if the run has a log directory. */
async function appendLogLine(file: string, event: Record<string, unknown>): Promise<void> {
  try {
    await fs.appendFile(file, JSON.stringify(event) + '\n')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
}
