/**
 * Images: builds the control-plane and runner images on the operator's machine (local Docker daemon)
 * from staged build contexts and pushes them to the private registry. Consumers reference them by
 * digest (`registry.<domain>/codex-dispatcher/<name>@sha256:…`), so a new build always rolls out.
 */
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import * as command from '@pulumi/command'
import * as docker from '@pulumi/docker'
import * as pulumi from '@pulumi/pulumi'
import { repoRoot } from './render/template.js'

/** Inputs of {@link Images}. */
export interface ImagesArgs {
  /** `registry.<domain>`. */
  registryHost: string
  registryUsername: string
  /** Secret. */
  registryPassword: pulumi.Input<string>
  /** Resolves when the registry accepts pushes. */
  registryReady: pulumi.Input<string>
  /** `BASE_IMAGE` build argument of both Dockerfiles. */
  baseImage: string
}

/** One image: its build-context stager and the repository name in the registry. */
const IMAGES = {
  controlPlane: { repo: 'codex-dispatcher/control-plane', stager: 'control-plane/stage.mjs', sources: ['control-plane', 'package-lock.json'] },
  runner: { repo: 'codex-dispatcher/runner', stager: 'runner-image/stage.mjs', sources: ['runner-image', 'package-lock.json'] },
} as const

/**
 * SHA-256 (hex, first 16 characters) over the relative paths and contents of every file under
 * `paths` (relative to the repository root), skipping node_modules. Used as the image tag and as the
 * trigger that re-stages a build context only when its sources changed.
 */
export function sourceHash(paths: readonly string[], root = repoRoot()): string {
  const h = crypto.createHash('sha256')
  const visit = (rel: string): void => {
    const abs = path.join(root, rel)
    if (!fs.existsSync(abs)) return
    if (fs.statSync(abs).isDirectory()) {
      for (const e of fs.readdirSync(abs).sort()) if (e !== 'node_modules') visit(path.join(rel, e))
    } else {
      h.update(rel).update('\0').update(fs.readFileSync(abs)).update('\0')
    }
  }
  for (const p of paths) visit(p)
  return h.digest('hex').slice(0, 16)
}

export class Images extends pulumi.ComponentResource {
  /** `registry.<domain>/codex-dispatcher/control-plane@sha256:…`. */
  readonly controlPlaneImage: pulumi.Output<string>
  /** `registry.<domain>/codex-dispatcher/runner@sha256:…`. */
  readonly runnerImage: pulumi.Output<string>

  constructor(name: string, args: ImagesArgs, opts?: pulumi.ComponentResourceOptions) {
    super('codex-dispatcher:infra:Images', name, {}, opts)
    const root = repoRoot()
    const build = (key: keyof typeof IMAGES): pulumi.Output<string> => {
      const spec = IMAGES[key]
      const tag = sourceHash(spec.sources, root)
      const context = path.join(root, 'dist', 'image-contexts', key)
      const stage = new command.local.Command(
        `${name}-${key}-stage`,
        {
          // The stagers refuse a non-empty directory: start from a clean one each time.
          create: `rm -rf ${context} && node ${spec.stager} ${context}`,
          dir: root,
          triggers: [tag],
        },
        { parent: this },
      )
      const image = new docker.Image(
        `${name}-${key}`,
        {
          imageName: `${args.registryHost}/${spec.repo}:${tag}`,
          build: {
            context,
            dockerfile: path.join(context, 'Dockerfile'),
            platform: 'linux/amd64',
            args: { BASE_IMAGE: args.baseImage },
          },
          registry: {
            // Resolving through registryReady makes the push wait for the registry and its credentials.
            server: pulumi.output(args.registryReady).apply(() => args.registryHost),
            username: args.registryUsername,
            password: pulumi.secret(args.registryPassword),
          },
        },
        { parent: this, dependsOn: [stage] },
      )
      return image.repoDigest
    }
    this.controlPlaneImage = build('controlPlane')
    this.runnerImage = build('runner')
    this.registerOutputs({ controlPlaneImage: this.controlPlaneImage, runnerImage: this.runnerImage })
  }
}
