/**
 * Offset-based windows over a growing file (a run's JSONL log, a Codex rollout): the reading side
 * of `GET /runs/:id/log`, `/events` and `/rollout`. Reading never blocks and never waits for data.
 */
import fs from 'node:fs/promises'

/** One window of a file. Offsets and sizes are in bytes. */
export interface LogWindow {
  offset: number
  next_offset: number
  size: number
  /** True only when the writer has finished and `next_offset == size`. */
  eof: boolean
  content: string
}

/** A window whose content is cut at line ends, with each JSON line parsed. */
export interface EventWindow extends LogWindow {
  /** Parsed JSON lines of the window, in order; lines that are not JSON are left out. */
  events: unknown[]
}

/** Length of the longest prefix of `buf` that does not end inside a UTF-8 sequence. */
export function utf8SafeLength(buf: Buffer): number {
  let i = buf.length - 1
  let back = 0
  while (i >= 0 && back < 3 && (buf[i] & 0xc0) === 0x80) {
    i--
    back++
  }
  if (i < 0) return buf.length
  const lead = buf[i]
  const need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1
  return buf.length - i >= need ? buf.length : i
}

async function readSlice(file: string, offset: number, maxBytes: number): Promise<{ buf: Buffer; size: number }> {
  let handle: fs.FileHandle
  try {
    handle = await fs.open(file, 'r')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { buf: Buffer.alloc(0), size: 0 }
    throw err
  }
  try {
    const { size } = await handle.stat()
    const start = Math.min(offset, size)
    const length = Math.min(maxBytes, size - start)
    const buf = Buffer.alloc(length)
    const { bytesRead } = await handle.read(buf, 0, length, start)
    return { buf: buf.subarray(0, bytesRead), size }
  } finally {
    await handle.close()
  }
}

/**
 * Reads up to `maxBytes` from `offset`. A start inside a UTF-8 sequence moves forward to the next
 * character; the end never splits a character. A missing file reads as empty.
 * @param ended whether the writer has finished (the run ended), which makes `eof` possible.
 */
export async function readLogWindow(file: string, offset: number, maxBytes: number, ended: boolean): Promise<LogWindow> {
  const { buf, size } = await readSlice(file, offset, maxBytes + 3)
  let skip = 0
  while (skip < buf.length && skip < 3 && (buf[skip] & 0xc0) === 0x80) skip++
  const start = Math.min(offset, size) + skip
  let body = buf.subarray(skip, skip + maxBytes)
  if (start + body.length < size || body.length === maxBytes) body = body.subarray(0, utf8SafeLength(body))
  const next = start + body.length
  return { offset: start, next_offset: next, size, eof: ended && next === size, content: body.toString('utf8') }
}

/**
 * Like {@link readLogWindow} but cut after the last complete line, with the lines parsed as JSON.
 * A line cut by the window is left for the next call. One line longer than the window is read
 * whole, up to `hardMaxBytes`; a longer one is returned unparsed so the reader still advances.
 * After the writer has ended, a last line without a newline counts as complete.
 */
export async function readEventWindow(
  file: string,
  offset: number,
  maxBytes: number,
  hardMaxBytes: number,
  ended: boolean,
): Promise<EventWindow> {
  let win = await readLogWindow(file, offset, maxBytes, ended)
  let buf = Buffer.from(win.content, 'utf8')
  let cut = buf.lastIndexOf(0x0a) + 1
  const atEnd = win.next_offset === win.size
  if (cut === 0 && buf.length > 0 && !(ended && atEnd) && maxBytes < hardMaxBytes) {
    win = await readLogWindow(file, offset, hardMaxBytes, ended)
    buf = Buffer.from(win.content, 'utf8')
    cut = buf.lastIndexOf(0x0a) + 1
  }
  const complete = ended && win.next_offset === win.size ? buf.length : cut === 0 && buf.length >= hardMaxBytes ? buf.length : cut
  const content = buf.subarray(0, complete).toString('utf8')
  const next = win.offset + complete
  const events: unknown[] = []
  for (const line of content.split('\n')) {
    if (!line.trim()) continue
    try {
      events.push(JSON.parse(line))
    } catch {
      // Not JSON (a partial line at a hard cap, or raw output): served in content only.
    }
  }
  return { offset: win.offset, next_offset: next, size: win.size, eof: ended && next === win.size, content, events }
}
