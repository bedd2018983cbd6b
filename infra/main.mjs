// Pulumi entry point (Pulumi.yaml `main`). Pulumi's bundled ts-node cannot load this ESM TypeScript
// program, so compile infra/ with the project's TypeScript first, then run the compiled program and
// hand its named exports to Pulumi as the stack outputs.
import { execFileSync } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
execFileSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', 'infra/tsconfig.json'], {
  cwd: root,
  stdio: 'inherit',
})

export default async () => ({ ...(await import(pathToFileURL(path.join(root, 'dist/infra/index.js')).href)) })
