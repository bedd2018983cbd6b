/**
 * The control plane's environment on the server: `/srv/codex-dispatcher/.env` and the same variables
 * handed to its container. The variables are the ones `loadConfig` in control-plane/src/config.ts
 * parses; the tests feed this renderer's output through dotenv into `loadConfig`.
 *
 * Format: one `KEY=value` per line, values unquoted. That subset means the same thing to dotenv
 * and to `docker run --env-file` (which does no quote processing), so the file can be used by both.
 */

/** Values the Pulumi program decides for the production control plane. */
export interface EnvFileValues {
  /** `postgres://user:password@host:port/db` of the Postgres container. */
  databaseUrl: string
  /** At least 16 characters. */
  dispatchToken: string
  /** Runner image by digest: `registry.<domain>/codex-dispatcher/runner@sha256:…`. */
  runnerImage: string
  runnerConcurrency: number
  /** Host path of the data directory; also its path inside the control-plane container. */
  dataDir: string
  /** Port the control plane listens on inside its container. */
  port: number
  gitToken?: string
  openaiApiKey?: string
  /** Contents of a Codex auth.json (any JSON formatting; it is written compact, on one line). */
  codexAuthJson?: string
}

/** Raised when a value cannot be written in the shared dotenv / docker env-file subset. */
export class EnvRenderError extends Error {
  constructor(readonly variable: string, reason: string) {
    super(`${variable} cannot be written to the .env file: ${reason}`)
    this.name = 'EnvRenderError'
  }
}

/**
 * The variables as ordered `[name, value]` pairs (unset optional secrets are left out).
 *
 * @throws EnvRenderError when a value holds a newline, NUL, `#`, surrounding whitespace or a leading
 *   quote (dotenv would cut or unquote it; docker's env-file would not), or codexAuthJson is not JSON.
 */
export function envEntries(v: EnvFileValues): [string, string][] {
  let codexAuthJson: string | undefined
  if (v.codexAuthJson !== undefined && v.codexAuthJson !== '') {
    try {
      codexAuthJson = JSON.stringify(JSON.parse(v.codexAuthJson))
    } catch {
      throw new EnvRenderError('CODEX_AUTH_JSON', 'is not valid JSON')
    }
  }
  const entries: [string, string | undefined][] = [
    ['HOST', '0.0.0.0'],
    ['PORT', String(v.port)],
    ['DATA_DIR', v.dataDir],
    ['DATABASE_URL', v.databaseUrl],
    ['DISPATCH_TOKEN', v.dispatchToken],
    ['RUNNER_BACKEND', 'docker'],
    ['DOCKER_SOCKET', '/var/run/docker.sock'],
    ['RUNNER_IMAGE', v.runnerImage],
    ['RUNNER_CONCURRENCY', String(v.runnerConcurrency)],
    ['GIT_TOKEN', v.gitToken],
    ['OPENAI_API_KEY', v.openaiApiKey],
    ['CODEX_AUTH_JSON', codexAuthJson],
    ['LOG_LEVEL', 'info'],
  ]
  const out: [string, string][] = []
  for (const [name, value] of entries) {
    if (value === undefined || value === '') continue
    if (/[\r\n\0#]/.test(value)) throw new EnvRenderError(name, 'contains a newline, NUL or "#"')
    if (value.trim() !== value) throw new EnvRenderError(name, 'has leading or trailing whitespace')
    if (/^["'`]/.test(value)) throw new EnvRenderError(name, 'starts with a quote character')
    out.push([name, value])
  }
  return out
}

/**
 * The `.env` file text: a header comment, then `KEY=value` lines, ending with a newline.
 * Write it with mode 600: it holds the dispatch token, database password and model/git credentials.
 *
 * @throws EnvRenderError see {@link envEntries}.
 */
export function renderEnvFile(v: EnvFileValues): string {
  const lines = envEntries(v).map(([k, val]) => `${k}=${val}`)
  return ['# codex-dispatcher control plane environment, written by Pulumi (infra/). Edits are overwritten on `pulumi up`.', ...lines, ''].join('\n')
}
