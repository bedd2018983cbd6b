/**
 * The contract between the control plane and the in-container job runner: the run bundle the
 * control plane writes, the environment a runner gets, and the result the runner leaves behind.
 * Both sides import these types; this module has no dependencies so it can ship in the image.
 *
 * Host layout under DATA_DIR (SPEC section 4):
 *   runs/<run_id>/            bundle: prompt.md, config.toml, meta.json; output: run.log, result.json
 *   codex_home/<state_key>/   the Codex CODEX_HOME of a state (sessions/, auth.json)
 *   workdir/<state_key>/      the work directory of a state
 *   projects/<project_id>/    a project's workspace
 */

/** File names inside a run bundle directory. */
export const BUNDLE_FILES = {
  prompt: 'prompt.md',
  config: 'config.toml',
  meta: 'meta.json',
  log: 'run.log',
  result: 'result.json',
} as const

/** Paths the runner container sees; the Docker driver bind-mounts the host directories here. */
export const CONTAINER_PATHS = {
  bundle: '/bundle',
  codexHome: '/codex-home',
  workspace: '/workspace',
} as const

/**
 * Environment variables a runner reads. The Docker driver sets them to {@link CONTAINER_PATHS};
 * the process driver sets them to host paths.
 */
export const RUNNER_ENV = {
  bundleDir: 'RUNNER_BUNDLE_DIR',
  codexHome: 'RUNNER_CODEX_HOME',
  workspace: 'RUNNER_WORKSPACE',
  /** Optional path of the `codex` executable; default: `codex` on PATH. */
  codexBin: 'RUNNER_CODEX_BIN',
} as const

/** Git settings of a run (present when the request had `git_repo` and `git_branch`). */
export interface RunGitSpec {
  repo: string
  branch: string
  /** Base branch the run's branch is created or reset from (`origin/<base>`). */
  base: string
  /** Clone directory relative to the working directory. */
  clone_dir_rel: string
  /** Commit and push `branch` after the agent and post_commands. */
  push: boolean
}

/** A project job's identity, written by the runner to `.codex/request.json` (projects API). */
export interface RunProjectSpec {
  project_id: string
  job_id: string
  job_type: 'initial_project' | 'edit'
  instruction: string
}

/** `meta.json` of a bundle. The prompt and config live in their own files. */
export interface RunMeta {
  run_id: string
  state_key: string
  /** Sub-directory of the workspace to run in, relative (validated, never escapes). */
  workdir_rel: string | null
  model: string | null
  /** Codex thread to resume (`codex exec resume <id>`) or, with `fork`, to fork. */
  conversation_id: string | null
  fork: boolean
  pre_commands: string[]
  post_commands: string[]
  git: RunGitSpec | null
  project: RunProjectSpec | null
}

/** Exit code of one pre/post command. */
export interface CommandOutcome {
  command: string
  exit_code: number
}

/** Token usage totals as Codex reports them in `turn.completed` events. */
export interface RunUsage {
  input_tokens: number
  cached_input_tokens: number
  output_tokens: number
}

/** Why a run failed, as machine-readable words. */
export type RunFailureReason =
  | 'pre_command_failed'
  | 'post_command_failed'
  | 'git_failed'
  | 'codex_failed'
  | 'runner_error'
  | 'timeout'
  | 'canceled'
  | 'runner_vanished'
  | 'runner_start_failed'

/** `result.json`, written once by the runner as its last act (atomically: temp file + rename). */
export interface RunResult {
  run_id: string
  status: 'succeeded' | 'failed'
  reason: RunFailureReason | null
  message: string | null
  /** Exit code of the `codex exec` process, null when it never ran. */
  codex_exit_code: number | null
  thread_id: string | null
  /** Rollout file path relative to the Codex home, e.g. `sessions/2026/11/22/rollout-…-<thread>.jsonl`. */
  rollout_path: string | null
  usage: RunUsage | null
  /** The agent's last message. */
  summary: string | null
  pre_commands: CommandOutcome[]
  post_commands: CommandOutcome[]
  git: { branch: string; commit: string | null; pushed: boolean } | null
  started_at: string
  finished_at: string
}

/** Prefix of the runner's own event types in run.log (`runner.started`, `runner.command.finished`, …). */
export const RUNNER_EVENT_PREFIX = 'runner.'
