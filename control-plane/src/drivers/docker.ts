/**
 * Runner driver on the Docker Engine API (through dockerode, over the host's socket): one container
 * per run, named after the run so the daemon itself refuses a second container for the same run.
 * Container settings follow SPEC section 4: non-root user, no Docker socket, `no-new-privileges`,
 * all capabilities dropped, memory/CPU/pids limits.
 */
import Docker from 'dockerode'
import { CONTAINER_PATHS, RUNNER_ENV } from '../../../runner-image/src/contract.js'
import type { Logger } from 'pino'
import type { RunnerDriver, RunnerSpec, RunnerState } from './driver.js'
import { ensureRunnerImage, type RunnerImageState } from './runner-image.js'

export interface DockerDriverOptions {
  socketPath: string
  image: string
  /** `uid:gid` the container runs as. */
  user: string
  memoryMb: number
  cpus: number
  pidsLimit: number
  network: string
}

/** Label every runner container carries, with the run id as value. */
export const RUN_LABEL = 'codex-dispatcher.run-id'

export function containerName(runId: string): string {
  return `codex-run-${runId}`
}

const isStatus = (err: unknown, ...codes: number[]) =>
  codes.includes((err as { statusCode?: number }).statusCode ?? -1)

export class DockerDriver implements RunnerDriver {
  readonly name = 'docker' as const
  private readonly docker: Docker

  constructor(private readonly opts: DockerDriverOptions) {
    this.docker = new Docker({ socketPath: opts.socketPath })
  }

  /** Resolves when the daemon answers and has the runner image (readiness). */
  async ping(): Promise<void> {
    await this.docker.ping()
    const present = await this.docker.getImage(this.opts.image).inspect().then(() => true, () => false)
    if (!present) throw new Error(`runner image ${this.opts.image} is not on the Docker daemon`)
  }

  /** Resolves when the daemon answers, image or not. */
  async pingDaemon(): Promise<void> {
    await this.docker.ping()
  }

  /** Builds the runner image from a source checkout when it is missing (see runner-image.ts). */
  async ensureImage(opts: { baseImage: string; repoRoot: string; log: Logger }): Promise<RunnerImageState> {
    return await ensureRunnerImage(this.docker, { tag: this.opts.image, ...opts })
  }

  async start(spec: RunnerSpec): Promise<string> {
    const env = {
      ...spec.env,
      [RUNNER_ENV.bundleDir]: CONTAINER_PATHS.bundle,
      [RUNNER_ENV.codexHome]: CONTAINER_PATHS.codexHome,
      [RUNNER_ENV.workspace]: CONTAINER_PATHS.workspace,
    }
    const container = await this.docker.createContainer({
      name: containerName(spec.runId),
      Image: this.opts.image,
      User: this.opts.user,
      Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
      Labels: { [RUN_LABEL]: spec.runId },
      HostConfig: {
        Binds: [
          `${spec.bundleDir}:${CONTAINER_PATHS.bundle}`,
          `${spec.codexHome}:${CONTAINER_PATHS.codexHome}`,
          `${spec.workspace}:${CONTAINER_PATHS.workspace}`,
        ],
        Memory: this.opts.memoryMb * 1024 * 1024,
        NanoCpus: Math.round(this.opts.cpus * 1e9),
        PidsLimit: this.opts.pidsLimit,
        SecurityOpt: ['no-new-privileges'],
        CapDrop: ['ALL'],
        NetworkMode: this.opts.network,
        Init: true,
      },
    })
    try {
      await container.start()
    } catch (err) {
      await container.remove({ force: true }).catch(() => {})
      throw err
    }
    return container.id
  }

  async inspect(runId: string): Promise<RunnerState> {
    try {
      const info = await this.docker.getContainer(containerName(runId)).inspect()
      if (info.State.Running || info.State.Restarting) return { state: 'running', runnerId: info.Id }
      if (info.State.Status === 'created') return { state: 'exited', runnerId: info.Id, exitCode: -1 }
      return { state: 'exited', runnerId: info.Id, exitCode: info.State.ExitCode }
    } catch (err) {
      if (isStatus(err, 404)) return { state: 'missing' }
      throw err
    }
  }

  async wait(runId: string): Promise<number> {
    // The wait call is a long poll that a daemon restart breaks; then look again.
    for (;;) {
      try {
        const res = (await this.docker
          .getContainer(containerName(runId))
          .wait({ condition: 'not-running' })) as { StatusCode: number }
        return res.StatusCode
      } catch (err) {
        if (isStatus(err, 404)) throw new Error(`runner container of run ${runId} vanished`)
        await new Promise((r) => setTimeout(r, 1000))
        const state = await this.inspect(runId).catch(() => null)
        if (state?.state === 'exited') return state.exitCode
        if (state?.state === 'missing') throw new Error(`runner container of run ${runId} vanished`)
      }
    }
  }

  async stop(runId: string, graceS: number): Promise<void> {
    try {
      await this.docker.getContainer(containerName(runId)).stop({ t: graceS })
    } catch (err) {
      if (!isStatus(err, 304, 404)) throw err
    }
  }

  async remove(runId: string): Promise<void> {
    try {
      await this.docker.getContainer(containerName(runId)).remove({ force: true })
    } catch (err) {
      if (!isStatus(err, 404, 409)) throw err
    }
  }

  async close(): Promise<void> {}
}
