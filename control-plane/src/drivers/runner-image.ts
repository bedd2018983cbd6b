/**
 * Builds the runner image on the local Docker daemon when it is missing and the control plane
 * runs from a source checkout (`npm start` on a fresh machine). Production never builds here:
 * the Pulumi program pushes the image to the private registry and pulls it onto the host, and
 * the control-plane image carries no runner sources, so this is a no-op there.
 *
 * Build context: `runner-image/stage.mjs` (the same staging path production uses); build through
 * the Docker Engine API (`POST /build`, via dockerode) with build arg `BASE_IMAGE`.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import type Docker from 'dockerode'
import type { Logger } from 'pino'

/** What happened to the runner image at start-up. */
export type RunnerImageState = 'present' | 'built' | 'missing'

/**
 * Makes sure `tag` exists on the daemon.
 * @param opts.repoRoot checkout root; the image is built only when `runner-image/stage.mjs` is there.
 * @param opts.baseImage `BASE_IMAGE` build arg (the Dockerfile's FROM).
 * @returns `present` (nothing to do), `built`, or `missing` (no sources to build from).
 * @throws when staging or the build fails (the daemon's error message is kept).
 */
export async function ensureRunnerImage(
  docker: Docker,
  opts: { tag: string; baseImage: string; repoRoot: string; log: Logger },
): Promise<RunnerImageState> {
  const present = await docker.getImage(opts.tag).inspect().then(() => true, () => false)
  if (present) return 'present'
  const stager = path.join(opts.repoRoot, 'runner-image', 'stage.mjs')
  if (!fs.existsSync(stager)) return 'missing'
  opts.log.warn({ image: opts.tag, base: opts.baseImage }, 'runner image not found: building it from runner-image/ (first start only; takes a minute or two)')
  const context = fs.mkdtempSync(path.join(os.tmpdir(), 'codex-dispatcher-runner-context-'))
  try {
    const { stageRunnerContext } = (await import(pathToFileURL(stager).href)) as { stageRunnerContext(dir: string): string }
    stageRunnerContext(context)
    const stream = await docker.buildImage({ context, src: fs.readdirSync(context) }, { t: opts.tag, buildargs: { BASE_IMAGE: opts.baseImage } })
    const output = await new Promise<{ error?: string; errorDetail?: { message?: string } }[]>((resolve, reject) =>
      docker.modem.followProgress(stream, (err: Error | null, res: unknown[]) => (err ? reject(err) : resolve(res as never))),
    )
    const failed = output.find((o) => o.error || o.errorDetail)
    if (failed) throw new Error(`building the runner image failed: ${failed.errorDetail?.message ?? failed.error}`)
    opts.log.warn({ image: opts.tag }, 'runner image built')
    return 'built'
  } finally {
    fs.rmSync(context, { recursive: true, force: true })
  }
}
