/**
 * Safe listing and reading of files inside a project workspace (a driver over the filesystem;
 * it knows paths, not projects). A requested path that leaves the workspace — `..`, absolute,
 * percent-encoded separators or dots, a symlink (file or directory component) pointing outside —
 * is refused before any file is opened:
 *
 *   1. the raw, still percent-encoded URL path is checked segment by segment ({@link parseWorkspacePath});
 *   2. the joined path is resolved with realpath and must lie inside the workspace's realpath;
 *   3. the file is opened with O_NOFOLLOW, and (Linux) the opened descriptor's path is checked
 *      again through /proc/self/fd, so a component swapped for a symlink in between is caught.
 *
 * A path that resolves outside answers exactly like a missing file (404), so the API is no oracle
 * for what exists outside the workspace.
 */
import { constants as FS } from 'node:fs'
import fs from 'node:fs/promises'
import path from 'node:path'
import { HttpError } from '../http/errors.js'

/** Directory names never listed or served (git internals). */
const HIDDEN_DIRS = new Set(['.git'])

/** Most files a listing returns; past it the listing says `truncated: true`. */
export const MAX_LISTED_FILES = 10_000

/** One listed file: POSIX path relative to the workspace, size in bytes. */
export interface WorkspaceFile {
  path: string
  size: number
}

/** A file's contents: UTF-8 text, or base64 for anything that is not valid UTF-8 or holds NUL. */
export interface WorkspaceFileContents {
  path: string
  size: number
  /** Last modification time, ISO 8601. */
  modified_at: string
  encoding: 'utf-8' | 'base64'
  contents: string
}

function invalidPath(message: string): HttpError {
  return new HttpError(400, 'invalid_path', message)
}

function fileNotFound(rel: string): HttpError {
  return new HttpError(404, 'file_not_found', `file ${rel} not found in the workspace`)
}

/**
 * Splits a raw (percent-encoded, as received) URL path below a workspace into decoded segments.
 * @param raw e.g. `src/main.js` or `a%20b.txt`; no leading slash.
 * @returns the decoded segments, each a plain file name.
 * @throws HttpError 400 `invalid_path` for an absolute path, an empty segment, `.` or `..` (also
 *   percent-encoded), an encoded `/` or `\`, NUL, or malformed percent-encoding.
 */
export function parseWorkspacePath(raw: string): string[] {
  if (raw === '') throw invalidPath('a file path is required')
  if (raw.startsWith('/')) throw invalidPath('the path must be relative to the workspace (no leading /)')
  if (raw.length > 4096) throw invalidPath('the path is longer than 4096 characters')
  return raw.split('/').map((seg) => {
    if (seg === '') throw invalidPath('the path must not contain empty segments (//) or end with /')
    let decoded: string
    try {
      decoded = decodeURIComponent(seg)
    } catch {
      throw invalidPath('the path has malformed percent-encoding')
    }
    if (decoded === '.' || decoded === '..') throw invalidPath('the path must stay inside the workspace (no . or .. segments)')
    if (decoded.includes('/') || decoded.includes('\\')) throw invalidPath('the path must not contain encoded separators (%2F, %5C)')
    if (decoded.includes('\0')) throw invalidPath('the path must not contain NUL')
    return decoded
  })
}

/** True when `child` is `root` itself or below it (both absolute and already resolved). */
function inside(root: string, child: string): boolean {
  return child === root || child.startsWith(root + path.sep)
}

/**
 * Every file under `root`, recursively, sorted by path; `.git` directories are left out.
 * Symlinks are never followed into directories; a symlink to a regular file inside the workspace
 * is listed with its target's size, any other symlink is left out.
 * @returns `{files, truncated}`; `truncated` when more than {@link MAX_LISTED_FILES} exist. A
 *   missing workspace has no files.
 */
export async function listWorkspaceFiles(root: string): Promise<{ files: WorkspaceFile[]; truncated: boolean }> {
  const rootReal = await fs.realpath(root).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null
    throw err
  })
  if (rootReal === null) return { files: [], truncated: false }
  const files: WorkspaceFile[] = []
  let truncated = false
  const walk = async (dir: string, rel: string): Promise<void> => {
    const entries = await fs.readdir(dir, { withFileTypes: true })
    for (const entry of entries) {
      if (truncated) return
      const abs = path.join(dir, entry.name)
      const relPath = rel ? `${rel}/${entry.name}` : entry.name
      let size: number | null = null
      if (entry.isDirectory()) {
        if (!HIDDEN_DIRS.has(entry.name)) await walk(abs, relPath)
        continue
      }
      if (entry.isFile()) size = (await fs.lstat(abs)).size
      else if (entry.isSymbolicLink()) {
        const target = await fs.realpath(abs).catch(() => null)
        if (target && inside(rootReal, target) && !target.split(path.sep).some((s) => HIDDEN_DIRS.has(s))) {
          const st = await fs.stat(target).catch(() => null)
          if (st?.isFile()) size = st.size
        }
      }
      if (size === null) continue
      if (files.length >= MAX_LISTED_FILES) {
        truncated = true
        return
      }
      files.push({ path: relPath, size })
    }
  }
  await walk(rootReal, '')
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
  return { files, truncated }
}

/**
 * Reads one file of the workspace, refusing anything that resolves outside it (see the module
 * comment for the order of checks; nothing outside is ever opened).
 * @param root the workspace directory.
 * @param segments decoded path segments from {@link parseWorkspacePath}.
 * @param maxBytes largest file served, in bytes.
 * @throws HttpError 404 `file_not_found` (missing, inside `.git`, or resolving outside the
 *   workspace), 400 `not_a_file` (a directory or special file), 413 `file_too_large`.
 */
export async function readWorkspaceFile(root: string, segments: string[], maxBytes: number): Promise<WorkspaceFileContents> {
  const rel = segments.join('/')
  if (segments.some((s) => HIDDEN_DIRS.has(s))) throw fileNotFound(rel)
  const rootReal = await fs.realpath(root).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') throw fileNotFound(rel)
    throw err
  })
  let real: string
  try {
    real = await fs.realpath(path.join(rootReal, ...segments))
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP' || code === 'ENAMETOOLONG') throw fileNotFound(rel)
    throw err
  }
  if (real === rootReal || !inside(rootReal, real)) throw fileNotFound(rel)
  if (path.relative(rootReal, real).split(path.sep).some((s) => HIDDEN_DIRS.has(s))) throw fileNotFound(rel)

  let handle: fs.FileHandle
  try {
    // O_NONBLOCK: a FIFO planted in the workspace must not hang the request.
    handle = await fs.open(real, FS.O_RDONLY | FS.O_NOFOLLOW | FS.O_NONBLOCK)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ELOOP' || code === 'ENOTDIR') throw fileNotFound(rel)
    throw err
  }
  try {
    if (process.platform === 'linux') {
      const opened = await fs.readlink(`/proc/self/fd/${handle.fd}`).catch(() => null)
      if (opened !== null && !inside(rootReal, opened)) throw fileNotFound(rel)
    }
    const st = await handle.stat()
    if (!st.isFile()) throw new HttpError(400, 'not_a_file', `${rel} is not a regular file`)
    if (st.size > maxBytes) {
      throw new HttpError(413, 'file_too_large', `file ${rel} is ${st.size} bytes, more than the ${maxBytes} bytes served`, {
        size: st.size,
        max_bytes: maxBytes,
      })
    }
    // Read one byte past the cap in case the file grew since fstat.
    const buf = Buffer.alloc(Math.min(st.size, maxBytes) + 1)
    let length = 0
    while (length < buf.length) {
      const { bytesRead } = await handle.read(buf, length, buf.length - length, length)
      if (bytesRead === 0) break
      length += bytesRead
    }
    if (length > maxBytes) {
      throw new HttpError(413, 'file_too_large', `file ${rel} is more than the ${maxBytes} bytes served`, { max_bytes: maxBytes })
    }
    const data = buf.subarray(0, length)
    const text = data.includes(0) ? null : decodeUtf8(data)
    const head = { path: rel, size: length, modified_at: st.mtime.toISOString() }
    return text === null
      ? { ...head, encoding: 'base64', contents: data.toString('base64') }
      : { ...head, encoding: 'utf-8', contents: text }
  } finally {
    await handle.close()
  }
}

/** Strict UTF-8 decoding; null when the bytes are not valid UTF-8. */
function decodeUtf8(data: Buffer): string | null {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(data)
  } catch {
    return null
  }
}
