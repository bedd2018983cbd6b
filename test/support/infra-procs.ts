/**
 * Plumbing for the live infrastructure tests (test/infra-live.test.ts): free loopback ports, temp
 * directories, long-running programs owned by a test, programs run to completion, an HTTP(S)
 * client that can pin SNI and a CA, and self-signed certificates made with openssl.
 *
 * Everything is asynchronous on purpose: the control plane under test runs in this process, so a
 * blocking spawnSync of a client would starve it.
 */
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'

/** The part of a tap test these helpers use: cleanup registration. */
export interface Owner {
  teardown(fn: () => unknown): void
}

/** A TCP port on 127.0.0.1 that was free a moment ago (the kernel's pick for port 0). */
export async function freePort(): Promise<number> {
  return await new Promise<number>((resolve, reject) => {
    const probe = net.createServer()
    probe.once('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo
      probe.close(() => resolve(port))
    })
  })
}

/**
 * A new directory under the system temp dir, mode 755 so nginx's unprivileged workers (www-data,
 * as on the host) can reach files in it; removed recursively at teardown.
 */
export function tempDir(t: Owner, prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  fs.chmodSync(dir, 0o755)
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** Outcome of {@link run}. */
export interface RunResult {
  /** Exit status; null when killed by a signal (e.g. the timeout). */
  status: number | null
  stdout: string
  stderr: string
}

/**
 * Runs a program to completion without blocking the event loop. Never throws for a non-zero exit:
 * callers assert on the status and show stdout/stderr.
 *
 * @param opts.input written to stdin, which is then closed (otherwise stdin is /dev/null).
 * @param opts.timeoutMs SIGKILL after this many ms; default 60 000.
 */
export async function run(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; input?: string; cwd?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  return await new Promise<RunResult>((resolve, reject) => {
    const child = spawn(cmd, args, {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000)
    child.once('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    child.once('close', (status) => {
      clearTimeout(timer)
      resolve({ status, stdout, stderr })
    })
    if (opts.input !== undefined) child.stdin!.end(opts.input)
  })
}

/** A long-running program owned by a test; see {@link startDaemon}. */
export interface Daemon {
  readonly name: string
  readonly pid: number
  /** Everything the program wrote to stdout and stderr so far, then its other log files. */
  log(): string
  /** Set once the program has exited. */
  readonly exitCode: number | null | undefined
  /** SIGTERM to its process group, SIGKILL after 5 s; resolves when it has exited. Idempotent. */
  stop(): Promise<void>
}

/**
 * Starts a program in its own process group (so its worker processes are stopped with it), with
 * stdout and stderr appended to `logFile`. The test's teardown stops it.
 *
 * @param opts.otherLogs files the program logs to by itself (shown by `log()` after `logFile`).
 * @throws when the program cannot be spawned (e.g. not installed).
 */
export async function startDaemon(
  t: Owner,
  name: string,
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; logFile: string; otherLogs?: string[] },
): Promise<Daemon> {
  const out = fs.openSync(opts.logFile, 'a')
  const child = spawn(cmd, args, { env: opts.env ?? process.env, cwd: opts.cwd, detached: true, stdio: ['ignore', out, out] })
  fs.closeSync(out)
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve)
    child.once('error', reject)
  })
  const pid = child.pid!
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  let stopping: Promise<void> | null = null
  const daemon: Daemon = {
    name,
    pid,
    log: () =>
      [opts.logFile, ...(opts.otherLogs ?? [])]
        .map((f) => (fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : ''))
        .join(''),
    get exitCode() {
      return child.exitCode ?? (child.signalCode ? null : undefined)
    },
    stop() {
      stopping ??= (async () => {
        const signalGroup = (sig: NodeJS.Signals) => {
          try {
            process.kill(-pid, sig)
          } catch {
            // the group is already gone
          }
        }
        signalGroup('SIGTERM')
        const timer = setTimeout(() => signalGroup('SIGKILL'), 5000)
        await exited
        clearTimeout(timer)
        // Workers of a master that exited (nginx) share its group: make sure none is left.
        signalGroup('SIGKILL')
      })()
      return stopping
    },
  }
  t.teardown(() => daemon.stop())
  return daemon
}

/**
 * Polls `check` every 100 ms until it returns something other than undefined/false/null and
 * returns that value. A check that throws counts as "not yet".
 *
 * @throws Error naming `what` (with the daemon's log, when given, and the last error) after
 *   `timeoutMs` (default 20 000), or at once when the daemon has exited.
 */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false | null> | T | undefined | false | null,
  opts: { timeoutMs?: number; daemon?: Daemon } = {},
): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 20_000)
  let lastError: unknown
  for (;;) {
    try {
      const v = await check()
      if (v !== undefined && v !== false && v !== null) return v
    } catch (err) {
      lastError = err
    }
    const dead = opts.daemon && opts.daemon.exitCode !== undefined
    if (dead || Date.now() > deadline) {
      const why = dead ? `${opts.daemon!.name} exited (${opts.daemon!.exitCode})` : 'timed out'
      const log = opts.daemon ? `\n--- ${opts.daemon.name} log ---\n${opts.daemon.log().slice(-4000)}` : ''
      const err = lastError ? `\nlast error: ${(lastError as Error).message}` : ''
      throw new Error(`waiting for ${what}: ${why}${err}${log}`)
    }
    await new Promise((r) => setTimeout(r, 100))
  }
}

/** Resolves when 127.0.0.1:`port` accepts TCP connections; see {@link waitFor} for errors. */
export async function waitForPort(port: number, daemon?: Daemon, timeoutMs?: number): Promise<void> {
  await waitFor(
    `127.0.0.1:${port} to accept connections`,
    () =>
      new Promise<boolean>((resolve) => {
        const s = net.connect(port, '127.0.0.1')
        s.once('connect', () => {
          s.destroy()
          resolve(true)
        })
        s.once('error', () => resolve(false))
      }),
    { daemon, timeoutMs },
  )
}

/** A response read to its end by {@link request}. */
export interface HttpResult {
  status: number
  headers: http.IncomingHttpHeaders
  body: string
}

/** Options of {@link request}. */
export interface RequestOptions {
  method?: string
  headers?: Record<string, string>
  body?: string | Buffer
  /**
   * Host name for the `Host` header, TLS SNI and certificate verification, while the TCP
   * connection goes to the URL's address (so a site named `api.example.test` is reached on
   * 127.0.0.1 without DNS).
   */
  hostname?: string
  /** PEM trust anchors for https URLs (verification is always on). */
  ca?: string | string[]
}

/**
 * One HTTP/1.1 request (no keep-alive, redirects not followed) over http or https. If the server
 * answers before the whole body was sent (nginx's early 413), the answer is still returned.
 *
 * @throws on connection and TLS errors (an untrusted certificate included).
 */
export async function request(url: string, opts: RequestOptions = {}): Promise<HttpResult> {
  const res = await open(url, opts)
  const chunks: Buffer[] = []
  for await (const chunk of res) chunks.push(chunk as Buffer)
  return { status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }
}

/**
 * Like {@link request} but resolves as soon as the status line and headers arrived; the caller
 * reads (or destroys) the body stream. Used for Server-Sent Events.
 */
export async function open(url: string, opts: RequestOptions = {}): Promise<http.IncomingMessage> {
  const u = new URL(url)
  const headers: Record<string, string> = { Connection: 'close', ...opts.headers }
  if (opts.hostname) headers.Host = u.port ? `${opts.hostname}:${u.port}` : opts.hostname
  if (opts.body !== undefined) headers['Content-Length'] = String(Buffer.byteLength(opts.body))
  const common = { method: opts.method ?? 'GET', host: u.hostname, port: u.port, path: u.pathname + u.search, headers, agent: false as const }
  return await new Promise<http.IncomingMessage>((resolve, reject) => {
    const req =
      u.protocol === 'https:'
        ? https.request({ ...common, servername: opts.hostname, ca: opts.ca, rejectUnauthorized: true })
        : http.request(common)
    let answered = false
    req.once('response', (res) => {
      answered = true
      resolve(res)
    })
    req.on('error', (err) => {
      // A write error after the answer (the server closed while we were still sending) is moot.
      if (!answered) reject(err)
    })
    req.end(opts.body)
  })
}

/**
 * Makes a self-signed certificate (EC P-256, CA:TRUE as `openssl req -x509` sets it, valid one day)
 * whose subjectAltName holds `names` and 127.0.0.1, so it can also serve as its own trust anchor.
 *
 * @returns paths of the PEM files and the certificate text.
 * @throws when openssl fails.
 */
export async function selfSignedCert(dir: string, names: string[]): Promise<{ certPath: string; keyPath: string; pem: string }> {
  const base = path.join(dir, names[0]!)
  const certPath = `${base}.crt`
  const keyPath = `${base}.key`
  const san = [...names.map((n) => `DNS:${n}`), 'IP:127.0.0.1'].join(',')
  const r = await run('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', `/CN=${names[0]}`, '-addext', `subjectAltName=${san}`, '-keyout', keyPath, '-out', certPath,
  ])
  if (r.status !== 0) throw new Error(`openssl req failed: ${r.stderr}`)
  return { certPath, keyPath, pem: fs.readFileSync(certPath, 'utf8') }
}
