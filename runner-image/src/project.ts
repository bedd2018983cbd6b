/**
 * Project jobs (SPEC section 2, "Projects"): `.codex/request.json` before the agent, and
 * `.codex/result.json` after it, with the created and modified files computed from workspace
 * snapshots rather than from anything the agent says.
 */
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { writeJsonAtomic } from './bundle.js'
import type { RunProjectSpec } from './contract.js'

/** Directory inside the workspace holding request.json and result.json. */
export const PROJECT_DIR = '.codex'

/** A workspace snapshot: relative POSIX path → sha256 of the content (of the target, for a symlink). */
export type Snapshot = Map<string, string>

/** `.codex/result.json` of a project job. */
export interface ProjectResult {
  status: 'success' | 'error'
  summary: string | null
  created_files: string[]
  modified_files: string[]
  errors: string[]
  logs: string[]
}

/**
 * Hashes every file under `root` (symlinks by their target path, never followed), skipping `.git`
 * directories anywhere and `.codex` at the top. Reads whole files; cost grows with workspace size.
 */
export function snapshot(root: string): Snapshot {
  const out: Snapshot = new Map()
  const walk = (dir: string, rel: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      if (entry.name === '.git' || (rel === '' && entry.name === PROJECT_DIR)) continue
      const abs = path.join(dir, entry.name)
      const relPath = rel === '' ? entry.name : `${rel}/${entry.name}`
      if (entry.isDirectory()) walk(abs, relPath)
      else if (entry.isSymbolicLink()) out.set(relPath, sha256(`symlink:${fs.readlinkSync(abs)}`))
      else if (entry.isFile()) out.set(relPath, sha256(fs.readFileSync(abs)))
    }
  }
  if (fs.existsSync(root)) walk(root, '')
  return out
}

function sha256(data: string | Buffer): string {
  return crypto.createHash('sha256').update(data).digest('hex')
}

/** Paths only in `after` (created) and paths in both whose hash changed (modified), each sorted. */
export function diffSnapshots(before: Snapshot, after: Snapshot): { created: string[]; modified: string[] } {
  const created: string[] = []
  const modified: string[] = []
  for (const [p, hash] of after) {
    const old = before.get(p)
    if (old === undefined) created.push(p)
    else if (old !== hash) modified.push(p)
  }
  return { created: created.sort(), modified: modified.sort() }
}

/** Writes `<workspace>/.codex/request.json` = `{project_id, job_id, job_type, instruction}`. */
export function writeProjectRequest(workspace: string, project: RunProjectSpec): void {
  fs.mkdirSync(path.join(workspace, PROJECT_DIR), { recursive: true })
  const { project_id, job_id, job_type, instruction } = project
  writeJsonAtomic(path.join(workspace, PROJECT_DIR, 'request.json'), { project_id, job_id, job_type, instruction })
}

/** Writes `<workspace>/.codex/result.json` ({@link ProjectResult}) atomically. */
export function writeProjectResult(workspace: string, result: ProjectResult): void {
  fs.mkdirSync(path.join(workspace, PROJECT_DIR), { recursive: true })
  writeJsonAtomic(path.join(workspace, PROJECT_DIR, 'result.json'), result)
}
