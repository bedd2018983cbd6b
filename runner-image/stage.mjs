#!/usr/bin/env node
// Makes the runner image's Docker build context: `node runner-image/stage.mjs <outDir>`.
// Production (Pulumi) and tests build from the same context:
//   <outDir>/Dockerfile
//   <outDir>/app/package.json, app/node_modules   @openai/codex (version pinned in the root package.json)
//                                                 and the runner's runtime deps (versions from package-lock.json),
//                                                 installed for linux/x64 on this machine, because containers
//                                                 may not reach the npm registry
//   <outDir>/app/dist/runner-image/src/*.js       the compiled runner (own tsc run, independent of other code)
//   <outDir>/app/runner-image/git-askpass.sh
// node_modules is cached under $XDG_CACHE_HOME (or ~/.cache)/codex-dispatcher/runner-deps/<key>,
// keyed by the pinned versions, so repeated builds do not reach the registry.
import { execFileSync } from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(here, '..')
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'

/** npm packages the runner needs at run time, besides @openai/codex. */
const RUNTIME_DEPS = ['smol-toml', 'zod']

/**
 * The exact versions staged into the image: `{name: version}`. @openai/codex comes from the root
 * package.json (pinned, not a range); the runtime deps from package-lock.json. Throws when a
 * version cannot be found.
 */
export function runnerDependencies() {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'))
  const lock = JSON.parse(fs.readFileSync(path.join(root, 'package-lock.json'), 'utf8'))
  const codex = pkg.dependencies?.['@openai/codex']
  if (!/^\d+\.\d+\.\d+/.test(codex ?? '')) throw new Error(`@openai/codex must be pinned to an exact version in package.json, found ${codex}`)
  const deps = { '@openai/codex': codex }
  for (const name of RUNTIME_DEPS) {
    const version = lock.packages?.[`node_modules/${name}`]?.version
    if (!version) throw new Error(`${name} is not in package-lock.json`)
    deps[name] = version
  }
  return deps
}

function cacheRoot() {
  return path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'codex-dispatcher', 'runner-deps')
}

/**
 * Returns a directory holding `package.json` and `node_modules` with exactly `deps` for
 * linux/x64, installing them (`npm install --omit=dev --os=linux --cpu=x64`) only when the cache
 * has no entry for these versions. Concurrent callers are safe: each installs into its own temp
 * directory and the first rename wins.
 */
export function cachedNodeModules(deps) {
  const key = crypto.createHash('sha256').update(JSON.stringify({ deps, os: 'linux', cpu: 'x64' })).digest('hex').slice(0, 16)
  const dir = path.join(cacheRoot(), key)
  if (fs.existsSync(path.join(dir, 'node_modules'))) return dir
  fs.mkdirSync(cacheRoot(), { recursive: true })
  const tmp = fs.mkdtempSync(path.join(cacheRoot(), `.${key}-`))
  const manifest = { name: 'codex-dispatcher-runner', private: true, type: 'module', dependencies: deps }
  fs.writeFileSync(path.join(tmp, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`)
  execFileSync(
    npm,
    ['install', '--omit=dev', '--os=linux', '--cpu=x64', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'],
    // npm's and tsc's reports go to stderr: callers (test runners) may own stdout.
    { cwd: tmp, stdio: ['ignore', 2, 2] },
  )
  try {
    fs.renameSync(tmp, dir)
  } catch (err) {
    if (!fs.existsSync(path.join(dir, 'node_modules'))) throw err
    fs.rmSync(tmp, { recursive: true, force: true })
  }
  return dir
}

/** Writes the complete build context into `outDir` (created; must be empty or absent). */
export function stageRunnerContext(outDir) {
  fs.mkdirSync(outDir, { recursive: true })
  if (fs.readdirSync(outDir).length > 0) throw new Error(`${outDir} is not empty`)
  const app = path.join(outDir, 'app')
  execFileSync(
    process.execPath,
    [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', path.join(here, 'tsconfig.json'), '--outDir', path.join(app, 'dist')],
    { cwd: root, stdio: ['ignore', 2, 2] },
  )
  fs.mkdirSync(path.join(app, 'runner-image'), { recursive: true })
  fs.copyFileSync(path.join(here, 'git-askpass.sh'), path.join(app, 'runner-image/git-askpass.sh'))
  fs.chmodSync(path.join(app, 'runner-image/git-askpass.sh'), 0o755)
  const deps = cachedNodeModules(runnerDependencies())
  fs.copyFileSync(path.join(deps, 'package.json'), path.join(app, 'package.json'))
  fs.copyFileSync(path.join(deps, 'package-lock.json'), path.join(app, 'package-lock.json'))
  fs.cpSync(path.join(deps, 'node_modules'), path.join(app, 'node_modules'), { recursive: true, verbatimSymlinks: true })
  fs.copyFileSync(path.join(here, 'Dockerfile'), path.join(outDir, 'Dockerfile'))
  return outDir
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const outDir = process.argv[2]
  if (!outDir) {
    console.error('usage: node runner-image/stage.mjs <outDir>')
    process.exit(2)
  }
  stageRunnerContext(path.resolve(outDir))
  console.log(`runner build context staged in ${path.resolve(outDir)}`)
}
