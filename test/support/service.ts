/**
 * Starts the real control plane in-process for a test: a fresh database on the test cluster, a
 * temp data directory, and the runner backend the test asks for. Stopped by t.teardown.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { pino } from 'pino'
import { loadConfig } from '../../control-plane/src/config.js'
import { startService, type RunningService } from '../../control-plane/src/runtime.js'
import { createTestDatabase } from './db.js'

export const TEST_TOKEN = 'test-token-0123456789abcdef'

export interface TestService extends RunningService, Api {
  dataDir: string
  databaseUrl: string
}

/**
 * @param env extra configuration variables (RUNNER_BACKEND, RUNNER_IMAGE, …).
 * @param t the tap test whose teardown stops the service and drops the database.
 */
export async function startTestService(
  t: { teardown(fn: () => unknown): void },
  env: Record<string, string> = {},
  reuse?: { dataDir: string; databaseUrl: string },
): Promise<TestService> {
  const db = reuse ? null : await createTestDatabase()
  const databaseUrl = reuse?.databaseUrl ?? db!.url
  const dataDir = reuse?.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'cd-test-data-'))
  const config = loadConfig({
    PORT: '0',
    DATA_DIR: dataDir,
    DATABASE_URL: databaseUrl,
    DISPATCH_TOKEN: TEST_TOKEN,
    RUNNER_BACKEND: 'process',
    POLL_INTERVAL_MS: '500',
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    ...env,
  })
  const service = await startService(config, pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }))
  let stopped = false
  const stopService = service.stop.bind(service)
  const stop = async () => {
    if (stopped) return
    stopped = true
    await stopService()
  }
  t.teardown(async () => {
    await stop()
    if (db) await db.drop()
  })
  return Object.assign(service, {
    stop,
    dataDir,
    databaseUrl,
    api: apiClient(service.url).api,
  })
}

/** Something that calls the control plane's API with the token (a test service or a remote one). */
export interface Api {
  api(pathname: string, init?: { method?: string; body?: unknown; headers?: Record<string, string> }): Promise<Response>
}

/**
 * An API client for a control plane at `baseUrl`: sends the token, JSON-encodes non-string bodies
 * (with `Content-Type: application/json` unless given), and POSTs when there is a body.
 */
export function apiClient(baseUrl: string, token = TEST_TOKEN): Api {
  return {
    api(pathname, init = {}) {
      const headers: Record<string, string> = { 'X-Dispatch-Token': token, ...init.headers }
      let body: string | undefined
      if (init.body !== undefined) {
        body = typeof init.body === 'string' ? init.body : JSON.stringify(init.body)
        headers['Content-Type'] ??= 'application/json'
      }
      return fetch(baseUrl + pathname, { method: init.method ?? (body ? 'POST' : 'GET'), headers, body })
    },
  }
}
