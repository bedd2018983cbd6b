/**
 * Reading a run bundle and writing its result (file names and shapes in ./contract.ts).
 */
import fs from 'node:fs'
import path from 'node:path'
import { parse as parseToml } from 'smol-toml'
import { z } from 'zod'
import { BUNDLE_FILES, RUNNER_ENV, type RunMeta } from './contract.js'

/** The runner's settings, read once from its environment. */
export interface RunnerSettings {
  bundleDir: string
  codexHome: string
  workspace: string
  /** `codex` executable: RUNNER_CODEX_BIN (absolute when it is a path) or `codex` on PATH. */
  codexBin: string
  /** GIT_TOKEN, handed to git only through GIT_ASKPASS. */
  gitToken: string | null
  /** OPENAI_API_KEY and CODEX_API_KEY values that are set (for redaction). */
  modelKeys: string[]
}

const envSchema = z.object({
  [RUNNER_ENV.bundleDir]: z.string().min(1),
  [RUNNER_ENV.codexHome]: z.string().min(1),
  [RUNNER_ENV.workspace]: z.string().min(1),
  [RUNNER_ENV.codexBin]: z.string().min(1).optional(),
  GIT_TOKEN: z.string().optional(),
  OPENAI_API_KEY: z.string().optional(),
  CODEX_API_KEY: z.string().optional(),
})

/**
 * Reads {@link RunnerSettings} from `env` (RUNNER_BUNDLE_DIR, RUNNER_CODEX_HOME, RUNNER_WORKSPACE,
 * optional RUNNER_CODEX_BIN, GIT_TOKEN, OPENAI_API_KEY, CODEX_API_KEY). Relative paths (also a
 * RUNNER_CODEX_BIN with a slash) resolve against the current directory; a bare RUNNER_CODEX_BIN is
 * looked up on PATH. Throws a ZodError naming each missing variable.
 */
export function readSettings(env: NodeJS.ProcessEnv): RunnerSettings {
  const e = envSchema.parse(env)
  const codexBin = e[RUNNER_ENV.codexBin] ?? 'codex'
  return {
    bundleDir: path.resolve(e[RUNNER_ENV.bundleDir]),
    codexHome: path.resolve(e[RUNNER_ENV.codexHome]),
    workspace: path.resolve(e[RUNNER_ENV.workspace]),
    // A path is resolved here: children run in the working directory, not the runner's cwd.
    codexBin: codexBin.includes('/') ? path.resolve(codexBin) : codexBin,
    gitToken: e.GIT_TOKEN || null,
    modelKeys: [e.OPENAI_API_KEY, e.CODEX_API_KEY].filter((v): v is string => !!v),
  }
}

const relPath = z
  .string()
  .min(1)
  .refine((p) => !path.isAbsolute(p) && !path.normalize(p).split(path.sep).includes('..'), 'must be a relative path inside its root')

const metaSchema = z.object({
  run_id: z.string().min(1),
  state_key: z.string().min(1),
  workdir_rel: relPath.nullable(),
  model: z.string().min(1).nullable(),
  conversation_id: z.string().min(1).nullable(),
  fork: z.boolean(),
  pre_commands: z.array(z.string()),
  post_commands: z.array(z.string()),
  git: z
    .object({
      repo: z.string().min(1),
      branch: z.string().min(1),
      base: z.string().min(1),
      clone_dir_rel: relPath,
      push: z.boolean(),
    })
    .nullable(),
  project: z
    .object({
      project_id: z.string().min(1),
      job_id: z.string().min(1),
      job_type: z.enum(['initial_project', 'edit']),
      instruction: z.string(),
    })
    .nullable(),
})

/** A bundle's contents: the prompt (UTF-8 text), the run's Codex config (TOML text) and its meta. */
export interface Bundle {
  prompt: string
  configToml: string
  meta: RunMeta
}

/**
 * Reads the bundle files `prompt.md`, `config.toml` and `meta.json` from `dir`. Throws when a file
 * is missing, meta.json does not match {@link RunMeta} (relative paths must not escape), or
 * config.toml is not valid TOML (checked here so Codex never starts on a broken config).
 */
export function readBundle(dir: string): Bundle {
  const prompt = fs.readFileSync(path.join(dir, BUNDLE_FILES.prompt), 'utf8')
  const configToml = fs.readFileSync(path.join(dir, BUNDLE_FILES.config), 'utf8')
  parseToml(configToml)
  const meta = metaSchema.parse(JSON.parse(fs.readFileSync(path.join(dir, BUNDLE_FILES.meta), 'utf8')))
  return { prompt, configToml, meta }
}

/**
 * Reads only the run id from meta.json, for the result of a run whose bundle failed validation.
 * Returns `unknown` when even that cannot be read.
 */
export function readRunIdLoosely(dir: string): string {
  try {
    const meta = JSON.parse(fs.readFileSync(path.join(dir, BUNDLE_FILES.meta), 'utf8')) as { run_id?: unknown }
    return typeof meta.run_id === 'string' ? meta.run_id : 'unknown'
  } catch {
    return 'unknown'
  }
}

/**
 * Writes `value` as pretty JSON to `file` atomically (temp file in the same directory, then
 * rename), so a reader sees the old file or the whole new one (used for result.json files).
 */
export function writeJsonAtomic(file: string, value: unknown): void {
  const tmp = `${file}.${process.pid}.tmp`
  fs.writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`)
  fs.renameSync(tmp, file)
}
