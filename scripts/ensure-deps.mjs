#!/usr/bin/env node
// Makes a fresh clone runnable with one command: installs the locked dependencies when
// node_modules is missing or older than package-lock.json, compiles the TypeScript, and marks the
// package's own `bin` entries executable (tsc writes plain files; `npx codex-dispatcher` runs them).
// Runs before `npm start`, `npm test` and `npm run bench` (npm's pre-scripts) and as `npm run build`.
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const mtime = (p) => { try { return fs.statSync(path.join(root, p)).mtimeMs } catch { return 0 } }
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'

if (mtime('node_modules/.package-lock.json') < mtime('package-lock.json')) {
  console.error('[ensure-deps] installing dependencies (npm ci)')
  execFileSync(npm, ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' })
}
execFileSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], {
  cwd: root,
  stdio: 'inherit',
})
const { bin = {} } = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'))
for (const target of Object.values(bin)) fs.chmodSync(path.join(root, target), 0o755)
