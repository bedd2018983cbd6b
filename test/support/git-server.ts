/**
 * A git server for tests: a bare repository served over smart HTTP by `git http-backend` (CGI,
 * git-http-backend(1)) behind node's http server on 127.0.0.1, with HTTP basic auth (RFC 7617)
 * whose password must be the given token. Pushes are accepted (REMOTE_USER is set).
 */
import { execFileSync, spawn } from 'node:child_process'
import fs from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'

export interface GitServer {
  /** Clone URL, e.g. `http://127.0.0.1:PORT/repo.git` (no credentials in it). */
  url: string
  /** Path of the bare repository. */
  bareDir: string
  /** Requests refused for a missing or wrong token. */
  refused: number
  /** Stops the server and deletes the repository. */
  close(): Promise<void>
}

/** Files of the initial commit on `main`. */
export const INITIAL_FILES: Record<string, string> = {
  'README.md': '# demo\n',
  'src/hello.txt': 'hello\n',
}

const GIT_ENV = {
  GIT_AUTHOR_NAME: 'test', GIT_AUTHOR_EMAIL: 'test@localhost',
  GIT_COMMITTER_NAME: 'test', GIT_COMMITTER_EMAIL: 'test@localhost',
  GIT_CONFIG_NOSYSTEM: '1', HOME: os.tmpdir(),
}

/** Runs git synchronously; returns trimmed stdout. Throws on a non-zero exit. */
export function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, env: { ...process.env, ...GIT_ENV }, encoding: 'utf8' }).trim()
}

/**
 * Creates a bare repo with one commit on `main` holding {@link INITIAL_FILES} and serves it.
 * Every request needs basic auth with password `token`; others get 401 and count in `refused`.
 */
export async function startGitServer(token: string): Promise<GitServer> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'git-server-'))
  const bareDir = path.join(root, 'repo.git')
  const seed = path.join(root, 'seed')
  git(root, 'init', '--quiet', '--bare', '--initial-branch=main', bareDir)
  git(root, 'init', '--quiet', '--initial-branch=main', seed)
  for (const [rel, content] of Object.entries(INITIAL_FILES)) {
    fs.mkdirSync(path.dirname(path.join(seed, rel)), { recursive: true })
    fs.writeFileSync(path.join(seed, rel), content)
  }
  git(seed, 'add', '.')
  git(seed, 'commit', '--quiet', '-m', 'initial')
  git(seed, 'push', '--quiet', bareDir, 'main')
  fs.rmSync(seed, { recursive: true, force: true })

  const state = { refused: 0 }
  const server = http.createServer((req, res) => {
    const [scheme, encoded] = (req.headers.authorization ?? '').split(' ')
    const password = scheme === 'Basic' && encoded ? Buffer.from(encoded, 'base64').toString('utf8').split(':').slice(1).join(':') : null
    if (password !== token) {
      state.refused++
      res.writeHead(401, { 'www-authenticate': 'Basic realm="git"' }).end()
      return
    }
    const url = new URL(req.url ?? '/', 'http://localhost')
    const cgi = spawn('git', ['http-backend'], {
      env: {
        ...process.env,
        ...GIT_ENV,
        GIT_PROJECT_ROOT: root,
        GIT_HTTP_EXPORT_ALL: '1',
        REMOTE_USER: 'test',
        REMOTE_ADDR: '127.0.0.1',
        REQUEST_METHOD: req.method ?? 'GET',
        PATH_INFO: decodeURIComponent(url.pathname),
        QUERY_STRING: url.search.replace(/^\?/, ''),
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        ...(req.headers['content-encoding'] ? { HTTP_CONTENT_ENCODING: req.headers['content-encoding'] } : {}),
        ...(req.headers['git-protocol'] ? { GIT_PROTOCOL: String(req.headers['git-protocol']) } : {}),
      },
      stdio: ['pipe', 'pipe', 'inherit'],
    })
    req.pipe(cgi.stdin)
    let head = Buffer.alloc(0)
    let headerDone = false
    cgi.stdout.on('data', (chunk: Buffer) => {
      if (headerDone) {
        res.write(chunk)
        return
      }
      head = Buffer.concat([head, chunk])
      const end = head.indexOf('\r\n\r\n') >= 0 ? head.indexOf('\r\n\r\n') : head.indexOf('\n\n')
      if (end < 0) return
      const sep = head[end] === 13 ? 4 : 2
      let status = 200
      const headers: Record<string, string> = {}
      for (const line of head.subarray(0, end).toString('latin1').split(/\r?\n/)) {
        const i = line.indexOf(':')
        const name = line.slice(0, i).trim().toLowerCase()
        const value = line.slice(i + 1).trim()
        if (name === 'status') status = Number.parseInt(value, 10)
        else headers[name] = value
      }
      headerDone = true
      res.writeHead(status, headers)
      res.write(head.subarray(end + sep))
    })
    cgi.stdout.on('end', () => res.end())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/repo.git`,
    bareDir,
    get refused() {
      return state.refused
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => {
          fs.rmSync(root, { recursive: true, force: true })
          resolve()
        })
      }),
  }
}
