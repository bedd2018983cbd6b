/**
 * codex-dispatcher on one Hetzner Cloud VPS (SPEC section 5):
 *
 *   Host ──► Bootstrap ──► Registry ──► Images ──► App
 *   (server,   (cloud-init,   (htpasswd,    (build +    (.env, Postgres,
 *    IPv4,      volume mount,  loopback      push by     control plane via
 *    firewall,  nginx, TLS)    registry)     digest)     Docker over SSH)
 *    volume)
 */
import * as pulumi from '@pulumi/pulumi'
import * as random from '@pulumi/random'
import { App } from './app.js'
import { Bootstrap } from './bootstrap.js'
import { readStackConfig } from './config.js'
import { Host } from './host.js'
import { Images } from './images.js'
import { Registry } from './registry.js'

const cfg = readStackConfig()

const host = new Host('host', {
  location: cfg.location,
  serverType: cfg.serverType,
  image: cfg.serverImage,
  sshPublicKey: cfg.sshPublicKey,
  volumeSizeGb: cfg.volumeSizeGb,
})

const bootstrap = new Bootstrap('bootstrap', {
  ipv4: host.ipv4,
  sshPrivateKey: cfg.sshPrivateKey,
  volumeDevice: host.volumeDevice,
  volumeAttached: host.volumeAttachmentId,
  domain: cfg.domain,
  acmeEmail: cfg.acmeEmail,
})

const registry = new Registry('registry', {
  connection: bootstrap.connection,
  host: bootstrap.registryHost,
  hostReady: bootstrap.ready,
})

const images = new Images('images', {
  registryHost: registry.host,
  registryUsername: registry.username,
  registryPassword: registry.password,
  registryReady: registry.ready,
  baseImage: cfg.baseImage,
})

const token = cfg.dispatchToken ?? pulumi.secret(new random.RandomPassword('dispatch-token', { length: 48, special: false }).result)

new App('app', {
  connection: bootstrap.connection,
  ipv4: host.ipv4,
  sshPrivateKey: cfg.sshPrivateKey,
  hostReady: bootstrap.ready,
  registryHost: registry.host,
  registryUsername: registry.username,
  registryPassword: registry.password,
  controlPlaneImage: images.controlPlaneImage,
  runnerImage: images.runnerImage,
  dispatchToken: token,
  runnerConcurrency: cfg.runnerConcurrency,
  gitToken: cfg.gitToken,
  openaiApiKey: cfg.openaiApiKey,
  codexAuthJson: cfg.codexAuthJson,
})

export const apiUrl = `https://${bootstrap.apiHost}`
export const uiUrl = `https://${bootstrap.apiHost}/ui`
export const registryHost = registry.host
export const serverIpv4 = host.ipv4
export const sshCommand = pulumi.interpolate`ssh root@${host.ipv4}`
export const dispatchToken = pulumi.secret(token)
