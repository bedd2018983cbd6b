/**
 * Host: the Hetzner Cloud server and what belongs to it — SSH key, firewall (inbound 22/80/443 only),
 * a primary IPv4 that outlives server replacement, and the data volume attached to the server.
 */
import * as hcloud from '@pulumi/hcloud'
import * as pulumi from '@pulumi/pulumi'
import { HOST_PATHS, HOST_PORTS } from './config.js'
import { renderCloudInit } from './render/cloud-init.js'

/** Inputs of {@link Host}. */
export interface HostArgs {
  /** Hetzner location, e.g. `fsn1`. */
  location: string
  serverType: string
  /** Hetzner image name, e.g. `debian-12`. */
  image: string
  /** OpenSSH public key line for root. */
  sshPublicKey: string
  volumeSizeGb: number
}

/** TCP ports open to the internet: SSH, HTTP (ACME + redirect) and HTTPS. */
export const INBOUND_TCP_PORTS = ['22', '80', '443'] as const

export class Host extends pulumi.ComponentResource {
  readonly serverId: pulumi.Output<number>
  /** Public IPv4 of the primary IP (stable across server replacement). */
  readonly ipv4: pulumi.Output<string>
  /** Block device of the attached volume on the server. */
  readonly volumeDevice: pulumi.Output<string>
  /** Completes when the volume is attached. */
  readonly volumeAttachmentId: pulumi.Output<string>

  constructor(name: string, args: HostArgs, opts?: pulumi.ComponentResourceOptions) {
    super('codex-dispatcher:infra:Host', name, {}, opts)
    const parent = { parent: this }

    const sshKey = new hcloud.SshKey(`${name}-ssh`, { publicKey: args.sshPublicKey }, parent)

    const anywhere = ['0.0.0.0/0', '::/0']
    const firewall = new hcloud.Firewall(
      `${name}-fw`,
      {
        rules: [
          ...INBOUND_TCP_PORTS.map((port) => ({ direction: 'in', protocol: 'tcp', port, sourceIps: anywhere })),
          { direction: 'in', protocol: 'icmp', sourceIps: anywhere },
        ],
      },
      parent,
    )

    // A primary IP created on its own (autoDelete false) stays when the server is replaced, so DNS
    // records keep pointing at the service.
    const ip = new hcloud.PrimaryIp(
      `${name}-ipv4`,
      { type: 'ipv4', assigneeType: 'server', location: args.location, autoDelete: false },
      { ...parent, protect: true },
    )

    const server = new hcloud.Server(
      `${name}-server`,
      {
        serverType: args.serverType,
        image: args.image,
        location: args.location,
        sshKeys: [sshKey.id],
        firewallIds: [firewall.id.apply(Number)],
        publicNets: [{ ipv4Enabled: true, ipv4: ip.id.apply(Number), ipv6Enabled: true }],
        userData: renderCloudInit({
          acmeWebroot: HOST_PATHS.acmeWebroot,
          registryAddr: `127.0.0.1:${HOST_PORTS.registry}`,
          registryDir: HOST_PATHS.registryDir,
        }),
        labels: { app: 'codex-dispatcher' },
      },
      // Editing cloud-init or rotating the key must never replace the production server.
      { ...parent, ignoreChanges: ['userData', 'sshKeys'] },
    )

    const volume = new hcloud.Volume(
      `${name}-data`,
      { size: args.volumeSizeGb, location: args.location, format: 'ext4', automount: false },
      { ...parent, protect: true },
    )
    const attachment = new hcloud.VolumeAttachment(
      `${name}-data-attach`,
      { serverId: server.id.apply(Number), volumeId: volume.id.apply(Number), automount: false },
      parent,
    )

    this.serverId = server.id.apply(Number)
    this.ipv4 = ip.ipAddress
    this.volumeDevice = volume.linuxDevice
    this.volumeAttachmentId = attachment.id
    this.registerOutputs({ serverId: this.serverId, ipv4: this.ipv4, volumeDevice: this.volumeDevice })
  }
}
