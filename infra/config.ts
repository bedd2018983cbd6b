/**
 * The `prod` stack's configuration (Pulumi.prod.yaml), read once into a typed object.
 * Secrets stay `Output`s marked secret from the moment they are read; nothing here unwraps them.
 */
import * as pulumi from '@pulumi/pulumi'

/** Fixed host layout: everything persistent lives on the Hetzner volume mounted at {@link HOST_PATHS.root}. */
export const HOST_PATHS = {
  /** Mount point of the volume. */
  root: '/srv/codex-dispatcher',
  /** The control plane's DATA_DIR; mounted into its container at the same path (runners are bind-mounted by host path). */
  dataDir: '/srv/codex-dispatcher/data',
  /** Postgres cluster directory (owned by the postgres container's uid 999). */
  postgresDir: '/srv/codex-dispatcher/postgres',
  /** Storage of the distribution registry. */
  registryDir: '/srv/codex-dispatcher/registry',
  /** The control plane's environment file (mode 600, root). */
  envFile: '/srv/codex-dispatcher/.env',
  /** ACME http-01 webroot nginx serves `/.well-known/acme-challenge/` from. */
  acmeWebroot: '/var/www/acme',
} as const

/** Ports on the host's loopback interface; only nginx (80/443) and SSH face the internet. */
export const HOST_PORTS = { controlPlane: 8080, registry: 5000 } as const

/** Typed stack configuration. */
export interface StackConfig {
  /** Zone the operator controls: `api.<domain>` and `registry.<domain>` must point at the server. */
  domain: string
  acmeEmail: string
  /** Hetzner location code, e.g. `fsn1`. */
  location: string
  /** Hetzner server type, e.g. `cx32`. */
  serverType: string
  /** Hetzner image name, e.g. `debian-12`. */
  serverImage: string
  /** Volume size in GB (Hetzner minimum 10). */
  volumeSizeGb: number
  runnerConcurrency: number
  /** Base image the Dockerfiles build FROM (`ARG BASE_IMAGE`). */
  baseImage: string
  /** OpenSSH public key line installed for root. */
  sshPublicKey: string
  /** Private half of {@link sshPublicKey} (PEM/OpenSSH), used by the SSH commands and the Docker provider. */
  sshPrivateKey: pulumi.Output<string>
  /** Set when the operator chose a token; otherwise the program generates one. */
  dispatchToken: pulumi.Output<string> | undefined
  openaiApiKey: pulumi.Output<string> | undefined
  codexAuthJson: pulumi.Output<string> | undefined
  gitToken: pulumi.Output<string> | undefined
}

/** Raised for missing or invalid configuration; the message names every bad key and how to set it. */
export class StackConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid stack configuration:\n  - ${problems.join('\n  - ')}`)
    this.name = 'StackConfigError'
  }
}

/**
 * Reads and validates the stack configuration.
 *
 * @param cfg the project's config namespace (default `new pulumi.Config()`, i.e. `codex-dispatcher:`).
 * @throws StackConfigError listing every missing or invalid key at once.
 */
export function readStackConfig(cfg: pulumi.Config = new pulumi.Config()): StackConfig {
  const problems: string[] = []
  const required = (key: string): string => {
    const v = cfg.get(key)
    if (v === undefined || v.trim() === '') {
      problems.push(`${key} is not set: pulumi config set ${key} <value>`)
      return ''
    }
    return v.trim()
  }
  const requiredSecret = (key: string): pulumi.Output<string> => {
    const v = cfg.getSecret(key)
    if (v === undefined) {
      problems.push(`${key} is not set: pulumi config set --secret ${key} <value>`)
      return pulumi.secret('')
    }
    return v
  }
  const int = (key: string, def: number, min: number, max: number): number => {
    const raw = cfg.get(key)
    if (raw === undefined) return def
    const n = Number(raw)
    if (!Number.isInteger(n) || n < min || n > max) {
      problems.push(`${key} must be an integer between ${min} and ${max}, got ${JSON.stringify(raw)}`)
      return def
    }
    return n
  }

  const domain = required('domain').replace(/\.$/, '')
  if (domain && !/^([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}$/i.test(domain)) {
    problems.push(`domain must be a DNS name like example.com, got ${JSON.stringify(domain)}`)
  }
  const acmeEmail = required('acmeEmail')
  if (acmeEmail && !/^[^@\s]+@[^@\s]+$/.test(acmeEmail)) problems.push('acmeEmail must be an e-mail address')
  const sshPublicKey = required('sshPublicKey')
  if (sshPublicKey && !/^(ssh-(ed25519|rsa)|ecdsa-sha2-nistp\d+) [A-Za-z0-9+/=]+/.test(sshPublicKey)) {
    problems.push('sshPublicKey must be an OpenSSH public key line (ssh-ed25519 AAAA...)')
  }
  const openaiApiKey = cfg.getSecret('openaiApiKey')
  const codexAuthJson = cfg.getSecret('codexAuthJson')
  if (openaiApiKey === undefined && codexAuthJson === undefined) {
    problems.push(
      'set one model credential: pulumi config set --secret openaiApiKey <key>, ' +
        'or pulumi config set --secret codexAuthJson < ~/.codex/auth.json',
    )
  }

  const result: StackConfig = {
    domain,
    acmeEmail,
    location: cfg.get('location') ?? 'fsn1',
    serverType: cfg.get('serverType') ?? 'cx32',
    serverImage: cfg.get('serverImage') ?? 'debian-12',
    volumeSizeGb: int('volumeSizeGb', 50, 10, 10240),
    runnerConcurrency: int('runnerConcurrency', 2, 1, 256),
    baseImage: cfg.get('baseImage') ?? 'node:20-bookworm-slim',
    sshPublicKey,
    sshPrivateKey: requiredSecret('sshPrivateKey'),
    dispatchToken: cfg.getSecret('dispatchToken'),
    openaiApiKey,
    codexAuthJson,
    gitToken: cfg.getSecret('gitToken'),
  }
  if (new pulumi.Config('hcloud').get('token') === undefined) {
    problems.push('hcloud:token is not set: pulumi config set --secret hcloud:token <Hetzner Cloud API token>')
  }
  if (problems.length > 0) throw new StackConfigError(problems)
  return result
}
