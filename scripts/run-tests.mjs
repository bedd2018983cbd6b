#!/usr/bin/env node
// `npm test`: prepares the real parts the tests use, runs every tap test, and ends with the plain
// line `N passed, N failed`. Real parts, never skipped:
//   - a Docker daemon (Debian's docker.io); started here when the socket does not answer,
//   - the local base image runner/control-plane images are built FROM (test/support/base-image.sh),
//   - one embedded Postgres cluster; each test file creates its own database on it (test/support/db.ts).
import { spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const log = (msg) => console.log(`[test] ${msg}`)

function dockerAnswers() {
  return spawnSync('docker', ['info', '--format', '{{.ServerVersion}}'], { stdio: 'ignore' }).status === 0
}

async function ensureDocker() {
  if (dockerAnswers()) return
  const dockerd = spawnSync('sh', ['-c', 'command -v dockerd'], { encoding: 'utf8' }).stdout.trim()
  if (!dockerd) throw new Error('no Docker daemon answers and dockerd is not installed (apt-get install docker.io)')
  log('starting dockerd')
  const out = fs.openSync(path.join(os.tmpdir(), 'codex-dispatcher-dockerd.log'), 'a')
  spawn(dockerd, ['--host', 'unix:///var/run/docker.sock'], { detached: true, stdio: ['ignore', out, out] }).unref()
  for (let i = 0; i < 120; i++) {
    if (dockerAnswers()) return
    await new Promise((r) => setTimeout(r, 500))
  }
  throw new Error('dockerd did not answer within 60 s; see the dockerd log in the temp dir')
}

await ensureDocker()
const base = spawnSync('bash', [path.join(root, 'test/support/base-image.sh')], { stdio: 'inherit' })
if (base.status !== 0) throw new Error('building the local base image failed')

const { startEmbeddedPostgres } = await import(path.join(root, 'dist/control-plane/src/db/embedded.js'))
const pgDir = fs.mkdtempSync(path.join(os.tmpdir(), 'codex-dispatcher-test-pg-'))
const db = await startEmbeddedPostgres({ dir: path.join(pgDir, 'cluster'), database: 'postgres' })
log(`embedded Postgres at 127.0.0.1:${db.port}`)

const files = process.argv.length > 2
  ? process.argv.slice(2)
  : fs.readdirSync(path.join(root, 'test'), { recursive: true })
      .map(String)
      .filter((f) => f.endsWith('.test.ts'))
      .sort()
      .map((f) => path.join('test', f))
const tap = spawn(
  process.execPath,
  [
    path.join(root, 'node_modules/tap/dist/esm/run.mjs'),
    '--disable-coverage',
    '--reporter=tap',
    '--timeout=900',
    '--jobs=2',
    ...files,
  ],
  {
    cwd: root,
    env: { ...process.env, TEST_DATABASE_URL: db.url, FORCE_COLOR: '0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  },
)
let tail = ''
tap.stdout.on('data', (chunk) => {
  process.stdout.write(chunk)
  tail = (tail + chunk.toString('utf8')).slice(-4096)
})
const code = await new Promise((resolve) => tap.on('close', (c) => resolve(c ?? 1)))
await db.stop().catch(() => {})
fs.rmSync(pgDir, { recursive: true, force: true })

// tap's closing comment: `# { total: 12, pass: 11, fail: 1, skip: 0 }` (a JS object literal).
const summary = [...tail.matchAll(/^# \{ (total: .*) \}$/gm)].pop()?.[1] ?? ''
const count = (key) => Number(new RegExp(`\\b${key}: (\\d+)`).exec(summary)?.[1] ?? 0)
const total = count('total')
const passed = count('pass')
const failed = code === 0 ? total - passed - count('skip') - count('todo') : Math.max(count('fail'), 1)
console.log(`${passed} passed, ${failed} failed`)
process.exit(code === 0 && total > 0 ? 0 : 1)
