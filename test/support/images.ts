/**
 * The runner image for tests, built from the same staged context as production
 * (runner-image/stage.mjs) on the local base image made by test/support/base-image.sh.
 */
import { execFileSync } from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
// @ts-expect-error the staging script is plain ESM without type declarations
import { runnerDependencies, stageRunnerContext } from '../../runner-image/stage.mjs'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')

/** Base image the tests build FROM (test/support/base-image.sh; Debian bookworm with Node 20). */
export const TEST_BASE_IMAGE = 'local/bookworm-node:2'

/** Repository name of test-built runner images; the tag is a content hash. */
export const RUNNER_IMAGE_REPO = 'codex-dispatcher-runner'

function docker(...args: string[]): string {
  return execFileSync('docker', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim()
}

/** sha256 over everything that goes into the image: runner sources, build files, versions, base image id. */
function contentHash(): string {
  const hash = crypto.createHash('sha256')
  const dir = path.join(root, 'runner-image')
  const files = fs
    .readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((rel) => fs.statSync(path.join(dir, rel)).isFile())
    .sort()
  for (const rel of files) hash.update(`${rel}\0`).update(fs.readFileSync(path.join(dir, rel))).update('\0')
  hash.update(fs.readFileSync(path.join(root, 'tsconfig.json')))
  hash.update(JSON.stringify(runnerDependencies()))
  hash.update(docker('image', 'inspect', '--format', '{{.Id}}', TEST_BASE_IMAGE))
  return hash.digest('hex').slice(0, 16)
}

/**
 * Removes earlier content-hash tags of the runner image (each is ~750 MB); tags a container
 * still uses are kept (docker refuses to remove them without force).
 */
function removeOlderImages(current: string): void {
  const tags = docker('image', 'ls', '--format', '{{.Repository}}:{{.Tag}}', RUNNER_IMAGE_REPO).split('\n').filter(Boolean)
  for (const tag of tags) {
    if (tag === current) continue
    try {
      docker('image', 'rm', tag)
    } catch {
      // In use by a container: left for a later build.
    }
  }
}

/** Holds a lock directory while `fn` runs, so parallel test files build the image once. */
async function withLock<T>(name: string, fn: () => T): Promise<T> {
  const lock = path.join(os.tmpdir(), `${name}.lock`)
  for (let waited = 0; ; waited += 500) {
    try {
      fs.mkdirSync(lock)
      break
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      // A lock older than 15 minutes belongs to a build that died.
      if (Date.now() - fs.statSync(lock).mtimeMs > 15 * 60_000) fs.rmSync(lock, { recursive: true, force: true })
      await new Promise((r) => setTimeout(r, 500))
    }
  }
  try {
    return fn()
  } finally {
    fs.rmSync(lock, { recursive: true, force: true })
  }
}

/**
 * Builds the runner image unless one with the same content hash exists; resolves with its tag
 * (`codex-dispatcher-runner:<hash>`). Staging reuses the cached node_modules (see stage.mjs), so
 * only the first build on a machine reaches the npm registry. Throws when staging or the build fails.
 */
export async function ensureRunnerImage(): Promise<string> {
  const tag = `${RUNNER_IMAGE_REPO}:${contentHash()}`
  return withLock('codex-dispatcher-runner-image', () => {
    try {
      docker('image', 'inspect', tag)
      return tag
    } catch {
      // Not built yet.
    }
    const context = fs.mkdtempSync(path.join(os.tmpdir(), 'runner-context-'))
    try {
      stageRunnerContext(context)
      execFileSync('docker', ['build', '--quiet', '--build-arg', `BASE_IMAGE=${TEST_BASE_IMAGE}`, '--tag', tag, context], {
        stdio: ['ignore', 'ignore', 'inherit'],
      })
      removeOlderImages(tag)
      return tag
    } finally {
      fs.rmSync(context, { recursive: true, force: true })
    }
  })
}
