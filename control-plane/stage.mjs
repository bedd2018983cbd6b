#!/usr/bin/env node
// Makes the control-plane image's Docker build context: `node control-plane/stage.mjs <outDir>`.
// Production (Pulumi's Images component) and tests build from the same context:
//   <outDir>/Dockerfile
//   <outDir>/app/package.json, app/node_modules   the control plane's runtime deps (versions from
//                                                 package-lock.json), installed for linux/x64 outside
//                                                 the build because containers may not reach npm
//   <outDir>/app/dist/                            the compiled control plane (root tsconfig.json)
// node_modules is cached by runner-image/stage.mjs's cachedNodeModules (keyed by exact versions).
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { cachedNodeModules } from '../runner-image/stage.mjs'

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(here, '..')

/** Dependencies of the repository that the control plane does not load at run time. */
const NOT_AT_RUNTIME = [/^@pulumi\//, /^@openai\/codex$/]

/** `{name: exact version}` of the control plane's runtime deps; throws when one is not locked. */
export function controlPlaneDependencies() {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'))
  const lock = JSON.parse(fs.readFileSync(path.join(root, 'package-lock.json'), 'utf8'))
  const deps = {}
  for (const name of Object.keys(pkg.dependencies ?? {}).sort()) {
    if (NOT_AT_RUNTIME.some((re) => re.test(name))) continue
    const version = lock.packages?.[`node_modules/${name}`]?.version
    if (!version) throw new Error(`${name} is not in package-lock.json`)
    deps[name] = version
  }
  return deps
}

/** Writes the complete build context into `outDir` (created; must be empty or absent). */
export function stageControlPlaneContext(outDir) {
  fs.mkdirSync(outDir, { recursive: true })
  if (fs.readdirSync(outDir).length > 0) throw new Error(`${outDir} is not empty`)
  const app = path.join(outDir, 'app')
  execFileSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json', '--outDir', path.join(app, 'dist')], {
    cwd: root,
    stdio: ['ignore', 2, 2],
  })
  const deps = cachedNodeModules(controlPlaneDependencies())
  const manifest = JSON.parse(fs.readFileSync(path.join(deps, 'package.json'), 'utf8'))
  fs.writeFileSync(path.join(app, 'package.json'), `${JSON.stringify({ ...manifest, name: 'codex-dispatcher-control-plane' }, null, 2)}\n`)
  fs.cpSync(path.join(deps, 'node_modules'), path.join(app, 'node_modules'), { recursive: true, verbatimSymlinks: true })
  fs.copyFileSync(path.join(here, 'Dockerfile'), path.join(outDir, 'Dockerfile'))
  return outDir
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const outDir = process.argv[2]
  if (!outDir) {
    console.error('usage: node control-plane/stage.mjs <outDir>')
    process.exit(2)
  }
  stageControlPlaneContext(path.resolve(outDir))
  console.log(`control-plane build context staged in ${path.resolve(outDir)}`)
}
