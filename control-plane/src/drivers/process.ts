/**
 * Development-only runner driver: runs the same job runner as a child process of the control
 * plane, with host paths instead of container mounts. No isolation, no limits; a restart of the
 * control plane loses running children (they are reconciled as vanished). Said loudly at start-up.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { RUNNER_ENV } from '../../../runner-image/src/contract.js'
import type { RunnerDriver, RunnerSpec, RunnerState } from './driver.js'

export interface ProcessDriverOptions {
  /** Compiled runner entry (`dist/runner-image/src/main.js`). */
  runnerMain: string
  /** The `codex` executable the runner should use (from node_modules/.bin). */
  codexBin: string
  /** PATH and HOME for the child. */
  baseEnv: { PATH: string; HOME: string }
}

interface Child {
  proc: ChildProcess
  exited: Promise<number>
  exitCode: number | null
}

export class ProcessDriver implements RunnerDriver {
  readonly name = 'process' as const
  private readonly children = new Map<string, Child>()

  constructor(private readonly opts: ProcessDriverOptions) {}

  async ping(): Promise<void> {
    await fs.promises.access(this.opts.runnerMain, fs.constants.R_OK)
  }

  async start(spec: RunnerSpec): Promise<string> {
    if (this.children.has(spec.runId)) throw new Error(`run ${spec.runId} already has a runner`)
    const out = fs.openSync(path.join(spec.bundleDir, 'runner-process.log'), 'a')
    const proc = spawn(process.execPath, [this.opts.runnerMain], {
      env: {
        ...this.opts.baseEnv,
        ...spec.env,
        [RUNNER_ENV.bundleDir]: spec.bundleDir,
        [RUNNER_ENV.codexHome]: spec.codexHome,
        [RUNNER_ENV.workspace]: spec.workspace,
        [RUNNER_ENV.codexBin]: this.opts.codexBin,
      },
      stdio: ['ignore', out, out],
    })
    fs.closeSync(out)
    const child: Child = {
      proc,
      exitCode: null,
      exited: new Promise((resolve) => {
        proc.on('exit', (code, signal) => {
          child.exitCode = code ?? (signal ? 128 + 15 : 1)
          resolve(child.exitCode)
        })
        proc.on('error', () => {
          child.exitCode = 127
          resolve(127)
        })
      }),
    }
    this.children.set(spec.runId, child)
    return `pid:${proc.pid ?? 0}`
  }

  async inspect(runId: string): Promise<RunnerState> {
    const child = this.children.get(runId)
    if (!child) return { state: 'missing' }
    const runnerId = `pid:${child.proc.pid ?? 0}`
    return child.exitCode === null ? { state: 'running', runnerId } : { state: 'exited', runnerId, exitCode: child.exitCode }
  }

  async wait(runId: string): Promise<number> {
    const child = this.children.get(runId)
    if (!child) throw new Error(`runner process of run ${runId} vanished`)
    return await child.exited
  }

  async stop(runId: string, graceS: number): Promise<void> {
    const child = this.children.get(runId)
    if (!child || child.exitCode !== null) return
    child.proc.kill('SIGTERM')
    const timer = setTimeout(() => child.proc.kill('SIGKILL'), graceS * 1000)
    await child.exited
    clearTimeout(timer)
  }

  async remove(runId: string): Promise<void> {
    this.children.delete(runId)
  }

  async close(): Promise<void> {
    await Promise.all([...this.children.keys()].map((id) => this.stop(id, 5)))
  }
}
