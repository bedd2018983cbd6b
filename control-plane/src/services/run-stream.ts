/**
 * Follows a run's log as it is written: complete lines from a byte offset onward, then the end of
 * the run. Waits on file-system notifications (fs.watch on the run directory) with a slow poll as
 * a safety net, instead of re-reading the file in a tight loop.
 */
import fs from 'node:fs'
import path from 'node:path'
import type { LogWindow } from './log-window.js'
import type { RunStatus } from '../queue/store.js'

/** How long an ended run's stream waits for the scheduler's final log line, ms. */
const FINISH_LINE_GRACE_MS = 1000

/**
 * Whether the log's last line is the scheduler's `dispatcher.run.finished` event, or there is no
 * log at all (a run canceled while queued never gets one).
 */
async function endsWithFinishLine(file: string): Promise<boolean> {
  let handle: fs.promises.FileHandle
  try {
    handle = await fs.promises.open(file, 'r')
  } catch {
    return true
  }
  try {
    const { size } = await handle.stat()
    const length = Math.min(size, 4096)
    const buf = Buffer.alloc(length)
    await handle.read(buf, 0, length, size - length)
    const last = buf.toString('utf8').trimEnd().split('\n').pop() ?? ''
    return last.includes('"type":"dispatcher.run.finished"')
  } finally {
    await handle.close()
  }
}

/** One item of a followed log. */
export type FollowItem =
  | { kind: 'line'; line: string; json: unknown | undefined; nextOffset: number }
  | { kind: 'end'; status: RunStatus; reason: string | null; nextOffset: number }

export interface FollowSource {
  /** An events window (complete lines only) from `offset`. */
  read(offset: number): Promise<LogWindow & { events: unknown[] }>
  /** The run's status and failure reason now. */
  status(): Promise<{ status: RunStatus; reason: string | null; ended: boolean }>
  /** The run's log file (its directory is watched). */
  logFile: string
}

/**
 * Yields each complete log line after `offset`, and an `end` item once the run has ended and the
 * whole log has been yielded. Stops early when `signal` aborts.
 * @param pollMs safety-net interval when no file event arrives, in ms.
 */
export async function* followRunLog(
  src: FollowSource,
  offset: number,
  signal: AbortSignal,
  pollMs = 1000,
): AsyncGenerator<FollowItem> {
  let wake: (() => void) | null = null
  const poke = () => {
    wake?.()
    wake = null
  }
  let watcher: fs.FSWatcher | null = null
  const dir = path.dirname(src.logFile)
  const tryWatch = () => {
    if (watcher) return
    try {
      watcher = fs.watch(dir, poke)
      watcher.on('error', () => {})
    } catch {
      // the run directory does not exist yet (still queued); the poll covers it
    }
  }
  let graceUsed = false
  signal.addEventListener('abort', poke)
  try {
    for (;;) {
      if (signal.aborted) return
      tryWatch()
      const before = await src.status()
      const win = await src.read(offset)
      if (win.content.length > 0) {
        let pos = win.offset
        for (const line of win.content.split('\n')) {
          if (pos >= win.next_offset) break
          pos += Buffer.byteLength(line, 'utf8') + 1
          if (!line) continue
          let json: unknown
          try {
            json = JSON.parse(line)
          } catch {
            json = undefined
          }
          yield { kind: 'line', line, json, nextOffset: Math.min(pos, win.next_offset) }
        }
        offset = win.next_offset
        continue
      }
      // The scheduler records the final status before it appends its `dispatcher.run.finished`
      // line; wait (once, briefly) for that line so a stream never ends one line short.
      if (before.ended && win.next_offset === win.size) {
        if (graceUsed || (await endsWithFinishLine(src.logFile))) {
          yield { kind: 'end', status: before.status, reason: before.reason, nextOffset: offset }
          return
        }
        graceUsed = true
      }
      await new Promise<void>((resolve) => {
        wake = resolve
        setTimeout(poke, graceUsed ? FINISH_LINE_GRACE_MS : pollMs)
      })
    }
  } finally {
    signal.removeEventListener('abort', poke)
    ;(watcher as fs.FSWatcher | null)?.close()
  }
}
