/**
 * Bootstrap: turns the fresh server into a host ready for the service — waits for SSH (dial retry)
 * and cloud-init, mounts the volume at the data root, installs the nginx sites, and obtains
 * Let's Encrypt certificates for `api.<domain>` and `registry.<domain>` (webroot; renewals reload
 * nginx through the deploy hook cloud-init installed).
 */
import * as command from '@pulumi/command'
import * as pulumi from '@pulumi/pulumi'
import { HOST_PATHS, HOST_PORTS } from './config.js'
import { NGINX_SNIPPETS_DIR, nginxSnippets, renderApiSite, renderHttpSite, renderRegistrySite } from './render/nginx.js'
import {
  renderInstallFilesScript,
  renderIssueCertificatesScript,
  renderMountVolumeScript,
  renderWaitForCloudInitScript,
  renderWaitForPortScript,
} from './render/scripts.js'

/** Inputs of {@link Bootstrap}. */
export interface BootstrapArgs {
  ipv4: pulumi.Input<string>
  /** Secret: root's SSH private key. */
  sshPrivateKey: pulumi.Input<string>
  /** Block device of the attached volume. */
  volumeDevice: pulumi.Input<string>
  /** Any output of the volume attachment, so mounting waits for it. */
  volumeAttached: pulumi.Input<string>
  domain: string
  acmeEmail: string
}

/** nginx site file of the registry's htpasswd (written by the Registry component). */
export const REGISTRY_HTPASSWD_FILE = '/etc/nginx/codex-dispatcher-registry.htpasswd'

/** Certificate paths certbot uses for a name (`--cert-name <name>`). */
export function certPaths(name: string): { certPath: string; keyPath: string } {
  return { certPath: `/etc/letsencrypt/live/${name}/fullchain.pem`, keyPath: `/etc/letsencrypt/live/${name}/privkey.pem` }
}

export class Bootstrap extends pulumi.ComponentResource {
  /** SSH connection to the host as root (secret: carries the private key). */
  readonly connection: command.types.input.remote.ConnectionArgs
  readonly apiHost: string
  readonly registryHost: string
  /** Resolves when nginx serves both names with valid certificates. */
  readonly ready: pulumi.Output<string>

  constructor(name: string, args: BootstrapArgs, opts?: pulumi.ComponentResourceOptions) {
    super('codex-dispatcher:infra:Bootstrap', name, {}, opts)
    const parent = { parent: this }
    this.apiHost = `api.${args.domain}`
    this.registryHost = `registry.${args.domain}`
    this.connection = { host: args.ipv4, user: 'root', privateKey: pulumi.secret(args.sshPrivateKey) }

    const sshUp = new command.local.Command(
      `${name}-wait-ssh`,
      { create: renderWaitForPortScript(), interpreter: ['/bin/bash', '-c'], environment: { HOST: args.ipv4, PORT: '22' } },
      parent,
    )
    const cloudInit = new command.remote.Command(
      `${name}-wait-cloud-init`,
      { connection: this.connection, create: renderWaitForCloudInitScript() },
      { ...parent, dependsOn: [sshUp] },
    )
    const mount = new command.remote.Command(
      `${name}-mount-volume`,
      {
        connection: this.connection,
        create: pulumi.output(args.volumeDevice).apply((device) =>
          renderMountVolumeScript({
            device,
            mountPoint: HOST_PATHS.root,
            dirs: [
              // The control plane and its runners run as uid/gid 1000 (control-plane/Dockerfile, RUNNER_UID).
              { path: HOST_PATHS.dataDir, owner: '1000:1000', mode: '750' },
              // The official postgres image runs as uid 999.
              { path: HOST_PATHS.postgresDir, owner: '999:999', mode: '700' },
              { path: HOST_PATHS.registryDir, owner: 'docker-registry:docker-registry', mode: '750' },
            ],
          }),
        ),
        triggers: [args.volumeAttached],
      },
      { ...parent, dependsOn: [cloudInit] },
    )

    const snippets = Object.entries(nginxSnippets()).map(([file, content]) => ({
      path: `${NGINX_SNIPPETS_DIR}/${file}`,
      mode: '644',
      content,
    }))
    const httpSite = new command.remote.Command(
      `${name}-nginx-http`,
      {
        connection: this.connection,
        create: renderInstallFilesScript(
          [
            ...snippets,
            {
              path: '/etc/nginx/sites-enabled/codex-dispatcher-http.conf',
              mode: '644',
              content: renderHttpSite({ serverNames: [this.apiHost, this.registryHost], acmeWebroot: HOST_PATHS.acmeWebroot }),
            },
          ],
          'nginx -t -q && systemctl reload nginx',
        ),
      },
      { ...parent, dependsOn: [cloudInit] },
    )
    const certs = new command.remote.Command(
      `${name}-certificates`,
      {
        connection: this.connection,
        create: renderIssueCertificatesScript({
          email: args.acmeEmail,
          webroot: HOST_PATHS.acmeWebroot,
          domains: [this.apiHost, this.registryHost],
        }),
      },
      { ...parent, dependsOn: [httpSite] },
    )
    const httpsSites = new command.remote.Command(
      `${name}-nginx-https`,
      {
        connection: this.connection,
        create: renderInstallFilesScript(
          [
            {
              path: '/etc/nginx/sites-enabled/codex-dispatcher-api.conf',
              mode: '644',
              content: renderApiSite({
                serverName: this.apiHost,
                ...certPaths(this.apiHost),
                upstream: `127.0.0.1:${HOST_PORTS.controlPlane}`,
              }),
            },
            {
              path: '/etc/nginx/sites-enabled/codex-dispatcher-registry.conf',
              mode: '644',
              content: renderRegistrySite({
                serverName: this.registryHost,
                ...certPaths(this.registryHost),
                upstream: `127.0.0.1:${HOST_PORTS.registry}`,
                htpasswdFile: REGISTRY_HTPASSWD_FILE,
              }),
            },
          ],
          'nginx -t -q && systemctl reload nginx',
        ),
      },
      { ...parent, dependsOn: [certs, mount] },
    )

    this.ready = pulumi.all([httpsSites.stdout, mount.stdout]).apply(() => 'ready')
    this.registerOutputs({ apiHost: this.apiHost, registryHost: this.registryHost, ready: this.ready })
  }
}
