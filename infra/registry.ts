/**
 * Registry: the distribution registry cloud-init installed (loopback only, storage on the volume),
 * published as `registry.<domain>` by nginx with TLS and one htpasswd user whose password is
 * generated here and kept secret.
 */
import * as command from '@pulumi/command'
import * as pulumi from '@pulumi/pulumi'
import * as random from '@pulumi/random'
import { HOST_PATHS, HOST_PORTS } from './config.js'
import { REGISTRY_HTPASSWD_FILE } from './bootstrap.js'
import { renderRegistryConfig } from './render/registry.js'
import { renderHtpasswdScript, renderInstallFilesScript } from './render/scripts.js'

/** Inputs of {@link Registry}. */
export interface RegistryArgs {
  connection: command.types.input.remote.ConnectionArgs
  /** `registry.<domain>`. */
  host: string
  /** Output of Bootstrap that resolves once nginx and the volume are ready. */
  hostReady: pulumi.Input<string>
}

export class Registry extends pulumi.ComponentResource {
  readonly host: string
  readonly username: string
  /** Secret. */
  readonly password: pulumi.Output<string>
  /** Resolves when the registry answers behind nginx with these credentials installed. */
  readonly ready: pulumi.Output<string>

  constructor(name: string, args: RegistryArgs, opts?: pulumi.ComponentResourceOptions) {
    super('codex-dispatcher:infra:Registry', name, {}, opts)
    const parent = { parent: this }
    this.host = args.host
    this.username = 'codex-dispatcher'

    const password = new random.RandomPassword(`${name}-password`, { length: 40, special: false }, parent)
    // Secret explicitly, not only through the provider's additionalSecretOutputs.
    this.password = pulumi.secret(password.result)

    const htpasswd = new command.remote.Command(
      `${name}-htpasswd`,
      {
        connection: args.connection,
        create: renderHtpasswdScript(REGISTRY_HTPASSWD_FILE, this.username),
        stdin: this.password,
        triggers: [args.hostReady],
      },
      parent,
    )
    // Rewrites the loopback-only config (also placed by cloud-init) and restarts the registry now
    // that its storage directory is on the mounted volume.
    const service = new command.remote.Command(
      `${name}-service`,
      {
        connection: args.connection,
        create: renderInstallFilesScript(
          [
            {
              path: '/etc/docker/registry/config.yml',
              mode: '644',
              content: renderRegistryConfig({ addr: `127.0.0.1:${HOST_PORTS.registry}`, rootDirectory: HOST_PATHS.registryDir }),
            },
          ],
          'systemctl restart docker-registry',
        ),
        triggers: [args.hostReady],
      },
      parent,
    )
    this.ready = pulumi.all([htpasswd.stdout, service.stdout]).apply(() => 'ready')
    this.registerOutputs({ host: this.host, username: this.username, password: this.password, ready: this.ready })
  }
}
