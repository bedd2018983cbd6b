import t from 'tap'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { pino } from 'pino'
import { createKnex, migrate } from '../control-plane/src/db/knex.js'
import { DataLayout } from '../control-plane/src/drivers/layout.js'
import type { RunnerDriver, RunnerSpec, RunnerState } from '../control-plane/src/drivers/driver.js'
import { Scheduler } from '../control-plane/src/queue/scheduler.js'
import { insertRun, type RunRow } from '../control-plane/src/queue/store.js'
import { createTestDatabase } from './support/db.js'

/**
 * A runner backend that records what the schedulers ask of it and "runs" each run for a few ms
 * by writing a succeeded result.json, so the queue's claims, limits and exclusion are what is
 * under test, against real Postgres.
 */
class RecordingDriver implements RunnerDriver {
  readonly name = 'process' as const
  private readonly exits = new Map<string, Promise<number>>()
  maxActive = 0
  private active = 0

  constructor(
    private readonly shared: { starts: Map<string, number>; runningByState: Map<string, number>; overlaps: string[] },
    private readonly stateOf: (runId: string) => string,
  ) {}

  async ping() {}
  async start(spec: RunnerSpec): Promise<string> {
    const { starts, runningByState, overlaps } = this.shared
    starts.set(spec.runId, (starts.get(spec.runId) ?? 0) + 1)
    const key = this.stateOf(spec.runId)
    const n = (runningByState.get(key) ?? 0) + 1
    runningByState.set(key, n)
    if (n > 1) overlaps.push(key)
    this.active++
    this.maxActive = Math.max(this.maxActive, this.active)
    this.exits.set(
      spec.runId,
      new Promise((resolve) =>
        setTimeout(() => {
          runningByState.set(key, (runningByState.get(key) ?? 1) - 1)
          this.active--
          const now = new Date().toISOString()
          fs.writeFileSync(
            path.join(spec.bundleDir, 'result.json'),
            JSON.stringify({ run_id: spec.runId, status: 'succeeded', reason: null, message: null, codex_exit_code: 0, thread_id: null, rollout_path: null, usage: null, summary: 'ok', pre_commands: [], post_commands: [], git: null, started_at: now, finished_at: now }),
          )
          resolve(0)
        }, 2 + Math.random() * 8),
      ),
    )
    return `rec:${spec.runId}`
  }
  async inspect(): Promise<RunnerState> {
    return { state: 'missing' }
  }
  async wait(runId: string) {
    return await this.exits.get(runId)!
  }
  async stop() {}
  async remove() {}
  async close() {}
}

t.test('two schedulers on one database claim each of 300 runs exactly once, within limits', async (t) => {
  const db = await createTestDatabase()
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cd-queue-'))
  const setupKnex = createKnex(db.url)
  await migrate(setupKnex)
  t.teardown(async () => {
    await setupKnex.destroy()
    await db.drop()
    fs.rmSync(dataDir, { recursive: true, force: true })
  })

  const stateOfRun = new Map<string, string>()
  const shared = { starts: new Map<string, number>(), runningByState: new Map<string, number>(), overlaps: [] as string[] }
  const layout = new DataLayout(dataDir, { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 })
  const concurrency = 3
  const schedulers = [0, 1].map(() => {
    const knex = createKnex(db.url, 5)
    const driver = new RecordingDriver(shared, (id) => stateOfRun.get(id)!)
    const scheduler = new Scheduler({
      knex,
      databaseUrl: db.url,
      driver,
      layout,
      log: pino({ level: 'silent' }),
      concurrency,
      pollIntervalMs: 60_000, // wake-ups must come from NOTIFY, not the poll
      runnerEnv: {},
    })
    return { knex, driver, scheduler }
  })
  for (const s of schedulers) await s.scheduler.start()
  t.teardown(async () => {
    for (const s of schedulers) {
      await s.scheduler.stop()
      await s.knex.destroy()
    }
  })

  const total = 300
  const ids: string[] = []
  for (let i = 0; i < total; i++) {
    const state_key = `state-${i % 20}`
    const { run } = await insertRun(setupKnex, {
      state_key,
      prompt: `run ${i}`,
      config_toml: '',
      request: { workdir_rel: null, model: null, conversation_id: null, fork: false, pre_commands: [], post_commands: [], git_repo: null, git_branch: null, git_base: 'main', git_clone_dir_rel: 'repo', git_push: false },
      timeout_s: 60,
      idempotency_key: null,
      request_hash: null,
    })
    stateOfRun.set(run.id, state_key)
    ids.push(run.id)
  }

  const deadline = Date.now() + 120_000
  let done = 0
  while (Date.now() < deadline) {
    const r = await setupKnex('runs').whereIn('status', ['succeeded', 'failed', 'canceled']).count<{ count: string }[]>('* as count')
    done = Number(r[0].count)
    if (done === total) break
    await new Promise((r) => setTimeout(r, 100))
  }
  for (const s of schedulers) await s.scheduler.drain()
  t.equal(done, total, 'every run reached a final status')

  const rows = await setupKnex<RunRow>('runs').select('*')
  t.equal(rows.filter((r) => r.status === 'succeeded').length, total, 'all succeeded')
  t.same([...new Set(ids.map((id) => shared.starts.get(id)))], [1], 'each run was started exactly once')
  t.equal(new Set(rows.map((r) => r.claimed_by)).size, 2, 'both schedulers took part')
  t.same(shared.overlaps, [], 'no two runs of one state key ever ran at the same time')
  for (const [i, s] of schedulers.entries()) t.ok(s.driver.maxActive <= concurrency, `scheduler ${i} ran at most ${concurrency} at once (max ${s.driver.maxActive})`)
  t.ok(schedulers.some((s) => s.driver.maxActive === concurrency), 'the concurrency limit was actually reached')
})

t.test('a queued run of a busy state key waits; other state keys go ahead', async (t) => {
  const db = await createTestDatabase()
  const knex = createKnex(db.url)
  await migrate(knex)
  t.teardown(async () => {
    await knex.destroy()
    await db.drop()
  })
  const request = { workdir_rel: null, model: null, conversation_id: null, fork: false, pre_commands: [], post_commands: [], git_repo: null, git_branch: null, git_base: 'main', git_clone_dir_rel: 'repo', git_push: false }
  const mk = (state_key: string) => insertRun(knex, { state_key, prompt: 'p', config_toml: '', request, timeout_s: 60, idempotency_key: null, request_hash: null })
  const a1 = (await mk('a')).run
  const a2 = (await mk('a')).run
  const b1 = (await mk('b')).run
  const { claimNextRun } = await import('../control-plane/src/queue/store.js')
  const first = await claimNextRun(knex, 'x')
  t.equal(first?.id, a1.id, 'oldest first')
  const second = await claimNextRun(knex, 'y')
  t.equal(second?.id, b1.id, 'a2 is skipped while a1 runs; b1 goes ahead')
  t.equal(await claimNextRun(knex, 'z'), null, 'nothing else is claimable')
  await knex('runs').where({ id: a1.id }).update({ status: 'succeeded' })
  const third = await claimNextRun(knex, 'z')
  t.equal(third?.id, a2.id, 'a2 runs once a1 has ended')
})
