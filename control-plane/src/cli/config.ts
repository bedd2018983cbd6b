/**
 * The CLI's own settings: it is a separate program from the control plane, so it reads its
 * environment here (flags win over `CODEX_DISPATCHER_URL` / `CODEX_DISPATCHER_TOKEN`).
 */
export interface CliConfig {
  /** Base URL of the control plane, without a trailing slash. */
  url: string
  token: string | undefined
}

export const DEFAULT_URL = 'http://127.0.0.1:8080'

/** Resolves URL and token from flags, then the environment, then defaults. */
export function cliConfig(flags: { url?: string; token?: string }, env: Record<string, string | undefined> = process.env): CliConfig {
  const url = (flags.url || env.CODEX_DISPATCHER_URL || DEFAULT_URL).replace(/\/+$/, '')
  return { url, token: flags.token || env.CODEX_DISPATCHER_TOKEN || undefined }
}
