/**
 * Configuration of the control plane, read from the environment once at start-up and validated
 * with zod into a typed, frozen object. Nothing else in the control plane reads `process.env`.
 *
 * The same variables are what the Pulumi program writes into the server's `.env`
 * (see `infra/render/env.ts`); `loadConfig` is the single parser for both.
 */
import path from 'node:path'
import { z } from 'zod'

/** Which runner driver executes runs: containers on the local Docker daemon, or child processes. */
export type RunnerBackend = 'docker' | 'process'

const intFromEnv = (def: number, min: number, max: number) =>
  z.coerce.number().int().min(min).max(max).default(def)

const optionalSecret = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v === '' ? undefined : v))

const schema = z.object({
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: intFromEnv(8080, 0, 65535),
  DISPATCH_TOKEN: optionalSecret.refine((v) => v === undefined || v.length >= 16, {
    message: 'must be at least 16 characters',
  }),
  DATA_DIR: z.string().min(1).default('.data'),
  DATABASE_URL: optionalSecret,
  RUNNER_BACKEND: z
    .enum(['docker', 'process', 'auto'])
    .default('auto'),
  DOCKER_SOCKET: z.string().min(1).default('/var/run/docker.sock'),
  RUNNER_IMAGE: z.string().min(1).default('codex-dispatcher-runner:latest'),
  RUNNER_BASE_IMAGE: z.string().min(1).default('node:20-bookworm-slim'),
  RUNNER_CONCURRENCY: intFromEnv(2, 1, 256),
  RUN_TIMEOUT_DEFAULT_S: intFromEnv(3600, 1, 7 * 24 * 3600),
  RUN_TIMEOUT_MAX_S: intFromEnv(4 * 3600, 1, 7 * 24 * 3600),
  RUNNER_MEMORY_MB: intFromEnv(4096, 64, 1024 * 1024),
  RUNNER_CPUS: z.coerce.number().positive().max(256).default(2),
  RUNNER_PIDS_LIMIT: intFromEnv(1024, 16, 1_000_000),
  RUNNER_NETWORK: z.string().min(1).default('bridge'),
  RUNNER_UID: intFromEnv(1000, 0, 2 ** 31 - 1),
  RUNNER_GID: intFromEnv(1000, 0, 2 ** 31 - 1),
  RUNNER_ENV_JSON: z
    .string()
    .default('{}')
    .transform((raw, ctx) => {
      try {
        const parsed: unknown = JSON.parse(raw)
        const env = z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string()).parse(parsed)
        return env
      } catch {
        ctx.addIssue({ code: 'custom', message: 'must be a JSON object of string values keyed by variable names' })
        return z.NEVER
      }
    }),
  GIT_TOKEN: optionalSecret,
  OPENAI_API_KEY: optionalSecret,
  CODEX_API_KEY: optionalSecret,
  CODEX_AUTH_JSON: optionalSecret.refine(
    (v) => {
      if (v === undefined) return true
      try {
        return typeof JSON.parse(v) === 'object'
      } catch {
        return false
      }
    },
    { message: 'must be the JSON contents of a Codex auth.json' },
  ),
  BODY_LIMIT_BYTES: intFromEnv(1024 * 1024, 1024, 64 * 1024 * 1024),
  LOG_READ_MAX_BYTES: intFromEnv(1024 * 1024, 1024, 64 * 1024 * 1024),
  POLL_INTERVAL_MS: intFromEnv(5000, 50, 600_000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
})

/** The validated configuration. Secrets are kept here and nowhere else; never log this object whole. */
export interface Config {
  /** Interface the HTTP server binds to. */
  host: string
  /** TCP port; 0 picks a free one (tests). */
  port: number
  /** Token every API call must carry; undefined means "generate one and keep it in the data dir". */
  dispatchToken: string | undefined
  /** Absolute path of the data directory (runs, codex_home, workdir, projects, embedded Postgres). */
  dataDir: string
  /** Postgres connection string; undefined means "start embedded Postgres under the data dir". */
  databaseUrl: string | undefined
  /** Requested runner backend; `auto` picks Docker when the daemon answers. */
  runnerBackend: RunnerBackend | 'auto'
  dockerSocket: string
  runnerImage: string
  /** FROM image used when the runner image is built at start-up from a source checkout. */
  runnerBaseImage: string
  runnerConcurrency: number
  /** Default and maximum wall-clock limits for a run, in seconds. */
  runTimeoutDefaultS: number
  runTimeoutMaxS: number
  /** Per-run container limits. */
  runnerMemoryMb: number
  runnerCpus: number
  runnerPidsLimit: number
  /** Docker network mode for runner containers (`bridge`, `host`, or a network name). */
  runnerNetwork: string
  /** Unprivileged uid/gid runner containers run as; the data directories of a run are owned by it. */
  runnerUid: number
  runnerGid: number
  /** Extra environment for every runner (RUNNER_ENV_JSON). */
  runnerEnv: Record<string, string>
  /** Secrets handed to runners through their environment, never through argv or records. */
  secrets: {
    gitToken: string | undefined
    openaiApiKey: string | undefined
    codexApiKey: string | undefined
    /** Contents of a Codex `auth.json`, copied into each new state's Codex home. */
    codexAuthJson: string | undefined
  }
  /** Largest accepted request body, in bytes (413 past it). */
  bodyLimitBytes: number
  /** Cap on `max_bytes` of the log/events/rollout routes, in bytes. */
  logReadMaxBytes: number
  /** Fallback scheduler poll interval in ms, in case a NOTIFY is missed. */
  pollIntervalMs: number
  logLevel: string
  /** PATH and HOME of the control plane, handed to child-process runners (process backend). */
  processEnv: { PATH: string; HOME: string }
}

/** Raised when the environment does not validate; `issues` names every bad variable. */
export class ConfigError extends Error {
  constructor(readonly issues: { variable: string; message: string }[]) {
    super(`invalid configuration: ${issues.map((i) => `${i.variable}: ${i.message}`).join('; ')}`)
    this.name = 'ConfigError'
  }
}

/**
 * Parses and validates the control plane's configuration.
 *
 * @param env variables to read (normally `process.env`; tests and the `.env` renderer pass their own).
 *   Empty strings count as unset.
 * @param cwd base for a relative `DATA_DIR`.
 * @returns a frozen {@link Config}.
 * @throws ConfigError naming each invalid variable.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env, cwd = process.cwd()): Config {
  const cleaned: Record<string, string> = {}
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v !== '') cleaned[k] = v
  const parsed = schema.safeParse(cleaned)
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => ({ variable: String(i.path[0] ?? '?'), message: i.message })),
    )
  }
  const e = parsed.data
  if (e.RUN_TIMEOUT_DEFAULT_S > e.RUN_TIMEOUT_MAX_S) {
    throw new ConfigError([
      { variable: 'RUN_TIMEOUT_DEFAULT_S', message: `must not exceed RUN_TIMEOUT_MAX_S (${e.RUN_TIMEOUT_MAX_S})` },
    ])
  }
  return Object.freeze({
    host: e.HOST,
    port: e.PORT,
    dispatchToken: e.DISPATCH_TOKEN,
    dataDir: path.resolve(cwd, e.DATA_DIR),
    databaseUrl: e.DATABASE_URL,
    runnerBackend: e.RUNNER_BACKEND,
    dockerSocket: e.DOCKER_SOCKET,
    runnerImage: e.RUNNER_IMAGE,
    runnerBaseImage: e.RUNNER_BASE_IMAGE,
    runnerConcurrency: e.RUNNER_CONCURRENCY,
    runTimeoutDefaultS: e.RUN_TIMEOUT_DEFAULT_S,
    runTimeoutMaxS: e.RUN_TIMEOUT_MAX_S,
    runnerMemoryMb: e.RUNNER_MEMORY_MB,
    runnerCpus: e.RUNNER_CPUS,
    runnerPidsLimit: e.RUNNER_PIDS_LIMIT,
    runnerNetwork: e.RUNNER_NETWORK,
    runnerUid: e.RUNNER_UID,
    runnerGid: e.RUNNER_GID,
    runnerEnv: e.RUNNER_ENV_JSON,
    secrets: Object.freeze({
      gitToken: e.GIT_TOKEN,
      openaiApiKey: e.OPENAI_API_KEY,
      codexApiKey: e.CODEX_API_KEY,
      codexAuthJson: e.CODEX_AUTH_JSON,
    }),
    bodyLimitBytes: e.BODY_LIMIT_BYTES,
    logReadMaxBytes: e.LOG_READ_MAX_BYTES,
    pollIntervalMs: e.POLL_INTERVAL_MS,
    logLevel: e.LOG_LEVEL,
    processEnv: Object.freeze({ PATH: env.PATH ?? '/usr/local/bin:/usr/bin:/bin', HOME: env.HOME ?? '/tmp' }),
  })
}
