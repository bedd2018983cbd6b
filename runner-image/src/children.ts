/**
 * Child processes of a run and their owner. Every child starts in its own process group so a
 * cancel reaches the whole tree (Codex's shell commands, git's helpers), not only the direct child.
 */
import { spawn, type SpawnOptions } from 'node:child_process'
import readline from 'node:readline'

/** What a finished child left: its exit code (128 + signal number when killed by a signal). */
export interface ChildExit {
  code: number
}

const SIGNAL_NUMBERS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 }

/** Owns the running children of a run; {@link Children.terminate} stops them all. */
export class Children {
  private readonly pids = new Set<number>()
  private stopping = false

  /**
   * Spawns `file args` with stdin from /dev/null and line-wise callbacks for stdout and stderr
   * (UTF-8, without the newline). Resolves when the child has exited and both streams are drained.
   * A spawn failure (ENOENT, EACCES) resolves as exit code 127 after reporting it on `onStderr`.
   * After {@link Children.terminate} new children are refused with exit code 130.
   */
  run(
    file: string,
    args: string[],
    options: Pick<SpawnOptions, 'cwd' | 'env'>,
    onStdout: (line: string) => void,
    onStderr: (line: string) => void,
  ): Promise<ChildExit> {
    if (this.stopping) return Promise.resolve({ code: 130 })
    return new Promise((resolve) => {
      const child = spawn(file, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
      let spawnError: Error | null = null
      child.on('error', (err) => {
        spawnError = err
      })
      if (child.pid !== undefined) this.pids.add(child.pid)
      const out = readline.createInterface({ input: child.stdout!, crlfDelay: Infinity })
      const err = readline.createInterface({ input: child.stderr!, crlfDelay: Infinity })
      out.on('line', onStdout)
      err.on('line', onStderr)
      const drained = Promise.all([
        new Promise((r) => out.once('close', r)),
        new Promise((r) => err.once('close', r)),
      ])
      child.once('close', (code, signal) => {
        if (child.pid !== undefined) this.pids.delete(child.pid)
        void drained.then(() => {
          if (spawnError) {
            onStderr(`cannot start ${file}: ${spawnError.message}`)
            resolve({ code: 127 })
          } else {
            resolve({ code: code ?? 128 + (SIGNAL_NUMBERS[signal ?? ''] ?? 0) })
          }
        })
      })
    })
  }

  /** Sends SIGTERM to every child's process group, then SIGKILL to those still there after `graceMs`. */
  terminate(graceMs: number): void {
    this.stopping = true
    const groups = [...this.pids]
    for (const pid of groups) signalGroup(pid, 'SIGTERM')
    setTimeout(() => {
      for (const pid of groups) if (this.pids.has(pid)) signalGroup(pid, 'SIGKILL')
    }, graceMs).unref()
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal)
  } catch {
    // The group is already gone.
  }
}
