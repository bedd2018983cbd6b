/**
 * Assembles a running control plane from a Config: database (embedded when no DATABASE_URL),
 * migrations, token, runner driver, scheduler, services and the HTTP server. Owns all of them and
 * stops them in reverse order. `server.ts` and the tests both start the service through here.
 */
import crypto from 'node:crypto'
import fs from 'node:fs/promises'
import http from 'node:http'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Knex } from 'knex'
import type { Logger } from 'pino'
import type { Config } from './config.js'
import { createApp } from './app.js'
import { createKnex, migrate } from './db/knex.js'
import { startEmbeddedPostgres, type EmbeddedDatabase } from './db/embedded.js'
import { DataLayout } from './drivers/layout.js'
import { DockerDriver } from './drivers/docker.js'
import { ProcessDriver } from './drivers/process.js'
import type { RunnerDriver } from './drivers/driver.js'
import { Scheduler } from './queue/scheduler.js'
import { RunService } from './services/runs.js'
import { Metrics } from './metrics.js'
import type Koa from 'koa'
import { ProjectService } from './services/projects.js'

const here = path.dirname(fileURLToPath(import.meta.url))
/** Repository root (this file is at control-plane/src, compiled to dist/control-plane/src). */
const repoRoot = path.resolve(here, here.includes(`${path.sep}dist${path.sep}`) ? '../../..' : '../..')

export interface RunningService {
  /** Base URL, e.g. `http://127.0.0.1:8080`. */
  url: string
  token: string
  /** Where the token came from: `DISPATCH_TOKEN` or the file it is kept in. */
  tokenSource: string
  databaseDescription: string
  backendDescription: string
  knex: Knex
  scheduler: Scheduler | null
  driver: RunnerDriver | null
  layout: DataLayout
  /** The Koa app (its routers are what /openapi.json documents). */
  app: Koa
  metrics: Metrics
  /** Stops the HTTP server, the scheduler (runners keep running), the database and embedded Postgres. */
  stop(): Promise<void>
}

/** Reads the dispatch token from config, else from `<dataDir>/dispatch-token`, creating it (mode 600). */
async function resolveToken(config: Config): Promise<{ token: string; source: string }> {
  if (config.dispatchToken) return { token: config.dispatchToken, source: 'DISPATCH_TOKEN' }
  const file = path.join(config.dataDir, 'dispatch-token')
  try {
    const token = (await fs.readFile(file, 'utf8')).trim()
    if (token.length >= 16) return { token, source: file }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  const token = crypto.randomBytes(32).toString('base64url')
  await fs.writeFile(file, token + '\n', { mode: 0o600 })
  return { token, source: file }
}

/** Picks the runner driver the config asks for; null (with the reason) when none is usable. */
async function chooseDriver(config: Config, log: Logger): Promise<{ driver: RunnerDriver | null; description: string }> {
  const docker = () =>
    new DockerDriver({
      socketPath: config.dockerSocket,
      image: config.runnerImage,
      user: `${config.runnerUid}:${config.runnerGid}`,
      memoryMb: config.runnerMemoryMb,
      cpus: config.runnerCpus,
      pidsLimit: config.runnerPidsLimit,
      network: config.runnerNetwork,
    })
  if (config.runnerBackend === 'process') {
    log.warn('RUNNER_BACKEND=process: runs execute as child processes WITHOUT isolation or limits; for development only')
    const driver = new ProcessDriver({
      runnerMain: path.join(repoRoot, 'dist/runner-image/src/main.js'),
      codexBin: path.join(repoRoot, 'node_modules/.bin/codex'),
      baseEnv: config.processEnv,
    })
    return { driver, description: 'process (DEVELOPMENT ONLY: no isolation)' }
  }
  const driver = docker()
  try {
    await driver.pingDaemon()
  } catch (err) {
    if (config.runnerBackend === 'docker') throw new Error(`RUNNER_BACKEND=docker but the Docker daemon does not answer: ${(err as Error).message}`)
    return {
      driver: null,
      description: `none: no Docker daemon answers at ${config.dockerSocket}; dispatch answers 503 (set RUNNER_BACKEND=process for development)`,
    }
  }
  let imageNote = ''
  try {
    const image = await driver.ensureImage({ baseImage: config.runnerBaseImage, repoRoot, log })
    if (image === 'missing') imageNote = ' (MISSING: runs fail and /readyz answers 503 until it is pulled)'
    if (image === 'built') imageNote = ' (built now)'
  } catch (err) {
    log.error({ err }, 'building the runner image failed')
    imageNote = ` (MISSING: ${(err as Error).message.split('\n')[0]}; runs fail and /readyz answers 503 until it exists)`
  }
  return { driver, description: `docker (${config.dockerSocket}, image ${config.runnerImage}${imageNote})` }
}

/**
 * Starts the whole service.
 * @throws when the database cannot be reached or migrated, or the requested backend is unusable.
 */
export async function startService(config: Config, log: Logger): Promise<RunningService> {
  await fs.mkdir(config.dataDir, { recursive: true })
  let embedded: EmbeddedDatabase | null = null
  let databaseUrl = config.databaseUrl
  let databaseDescription: string
  if (databaseUrl) {
    const u = new URL(databaseUrl)
    databaseDescription = `postgres at ${u.hostname}:${u.port || 5432}${u.pathname}`
  } else {
    const dir = path.join(config.dataDir, 'postgres', 'cluster')
    embedded = await startEmbeddedPostgres({ dir })
    databaseUrl = embedded.url
    databaseDescription = `embedded postgres at 127.0.0.1:${embedded.port}, data in ${embedded.dir}`
  }
  const knex = createKnex(databaseUrl)
  await migrate(knex)
  const { token, source } = await resolveToken(config)
  const layout = new DataLayout(config.dataDir, { uid: config.runnerUid, gid: config.runnerGid })
  const { driver, description } = await chooseDriver(config, log)

  const runnerEnv: Record<string, string> = { ...config.runnerEnv }
  if (config.secrets.gitToken) runnerEnv.GIT_TOKEN = config.secrets.gitToken
  if (config.secrets.openaiApiKey) runnerEnv.OPENAI_API_KEY = config.secrets.openaiApiKey
  if (config.secrets.codexApiKey) runnerEnv.CODEX_API_KEY = config.secrets.codexApiKey

  // The scheduler asks the projects service (built below, from the same scheduler) for project workspaces.
  let projects: ProjectService | null = null
  const scheduler: Scheduler | null = driver
    ? new Scheduler({
        knex,
        databaseUrl,
        driver,
        layout,
        log,
        concurrency: config.runnerConcurrency,
        pollIntervalMs: config.pollIntervalMs,
        runnerEnv,
        codexAuthJson: config.secrets.codexAuthJson,
        projectOf: async (run) => await projects!.projectOf(run),
      })
    : null
  const runs = new RunService({
    knex,
    layout,
    scheduler,
    unavailableReason: description,
    timeoutDefaultS: config.runTimeoutDefaultS,
    timeoutMaxS: config.runTimeoutMaxS,
    readMaxBytes: config.logReadMaxBytes,
  })
  projects = new ProjectService({
    knex,
    layout,
    runs,
    scheduler,
    unavailableReason: description,
    log,
    timeoutDefaultS: config.runTimeoutDefaultS,
    timeoutMaxS: config.runTimeoutMaxS,
  })
  projects.start()
  const metrics = new Metrics(knex)
  scheduler?.subscribe(metrics.onSchedulerEvent)
  await scheduler?.start()
  const runLimits = { timeoutDefaultS: config.runTimeoutDefaultS, timeoutMaxS: config.runTimeoutMaxS }
  const app = createApp({ knex, log, token, bodyLimitBytes: config.bodyLimitBytes, runs, projects, layout, driver, metrics, runLimits })
  const server = http.createServer(app.callback())
  server.keepAliveTimeout = 65_000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(config.port, config.host, resolve)
  })
  const addr = server.address()
  const port = typeof addr === 'object' && addr ? addr.port : config.port
  const host = config.host.includes(':') ? `[${config.host}]` : config.host

  return {
    url: `http://${host}:${port}`,
    token,
    tokenSource: source,
    databaseDescription,
    backendDescription: description,
    knex,
    scheduler,
    driver,
    layout,
    app,
    metrics,
    async stop() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
      await scheduler?.stop()
      await projects?.stop()
      await driver?.close()
      await knex.destroy()
      await embedded?.stop()
    },
  }
}
