/**
 * App: the running service on the host, managed through the Docker provider over SSH —
 * the control plane's `.env` (mode 600), a private network, Postgres with its data on the volume,
 * the runner image pulled for runs, and the control-plane container (Docker socket and data dir
 * mounted, `restart: unless-stopped`, health check on /healthz, published on loopback for nginx).
 */
import os from 'node:os'
import path from 'node:path'
import * as command from '@pulumi/command'
import * as docker from '@pulumi/docker'
import * as pulumi from '@pulumi/pulumi'
import * as random from '@pulumi/random'
import { HOST_PATHS, HOST_PORTS } from './config.js'
import { envEntries, renderEnvFile, type EnvFileValues } from './render/env.js'
import { renderDockerGidScript, renderWriteStdinScript } from './render/scripts.js'

/** Inputs of {@link App}. */
export interface AppArgs {
  connection: command.types.input.remote.ConnectionArgs
  ipv4: pulumi.Input<string>
  /** Secret: root's SSH private key, for the Docker provider's `ssh://` connection. */
  sshPrivateKey: pulumi.Input<string>
  /** Resolves when Docker exists on the host and the volume is mounted (Bootstrap.ready). */
  hostReady: pulumi.Input<string>
  registryHost: string
  registryUsername: string
  /** Secret. */
  registryPassword: pulumi.Input<string>
  controlPlaneImage: pulumi.Input<string>
  runnerImage: pulumi.Input<string>
  /** Secret. */
  dispatchToken: pulumi.Input<string>
  runnerConcurrency: number
  gitToken?: pulumi.Input<string>
  openaiApiKey?: pulumi.Input<string>
  codexAuthJson?: pulumi.Input<string>
}

/** Postgres image run on the host (pulled from Docker Hub by the server). */
export const POSTGRES_IMAGE = 'postgres:16-bookworm'

export class App extends pulumi.ComponentResource {
  /** Name of the control-plane container. */
  readonly containerName: pulumi.Output<string>

  constructor(name: string, args: AppArgs, opts?: pulumi.ComponentResourceOptions) {
    super('codex-dispatcher:infra:App', name, {}, opts)
    const parent = { parent: this }

    // The Docker provider's ssh:// transport runs the local `ssh` client, which needs the key in a
    // file: write it (stdin only, mode 600) under ~/.ssh of the operator.
    const keyPath = path.join(os.homedir(), '.ssh', `codex-dispatcher-${pulumi.getStack()}`)
    const keyFile = new command.local.Command(
      `${name}-ssh-key-file`,
      {
        create: renderWriteStdinScript(keyPath, '600', `echo ${keyPath}`),
        interpreter: ['/bin/bash', '-c'],
        stdin: pulumi.secret(args.sshPrivateKey),
      },
      parent,
    )
    const dockerHost = pulumi
      .all([args.ipv4, args.hostReady, keyFile.id])
      .apply(([ip]) => `ssh://root@${ip}`)
    const provider = new docker.Provider(
      `${name}-docker`,
      {
        host: dockerHost,
        sshOpts: ['-i', keyPath, '-o', 'StrictHostKeyChecking=accept-new', '-o', 'ServerAliveInterval=30'],
        registryAuth: [
          { address: args.registryHost, username: args.registryUsername, password: pulumi.secret(args.registryPassword) },
        ],
      },
      parent,
    )
    const onHost = { parent: this, provider }

    const dbPassword = pulumi.secret(
      new random.RandomPassword(`${name}-postgres-password`, { length: 32, special: false }, parent).result,
    )
    const network = new docker.Network(`${name}-net`, { name: 'codex-dispatcher' }, onHost)

    const postgresImage = new docker.RemoteImage(`${name}-postgres-image`, { name: POSTGRES_IMAGE, keepLocally: true }, onHost)
    const postgres = new docker.Container(
      `${name}-postgres`,
      {
        name: 'codex-dispatcher-postgres',
        image: postgresImage.imageId,
        restart: 'unless-stopped',
        envs: [pulumi.interpolate`POSTGRES_PASSWORD=${dbPassword}`, 'POSTGRES_USER=codex', 'POSTGRES_DB=codex'],
        volumes: [{ hostPath: HOST_PATHS.postgresDir, containerPath: '/var/lib/postgresql/data' }],
        networksAdvanced: [{ name: network.name, aliases: ['postgres'] }],
        healthcheck: { tests: ['CMD', 'pg_isready', '-U', 'codex', '-d', 'codex'], interval: '10s', timeout: '5s', retries: 5 },
        wait: true,
        waitTimeout: 120,
      },
      onHost,
    )

    // Runs start from this image; pulling it here means the first run does not wait for a pull.
    new docker.RemoteImage(`${name}-runner-image`, { name: args.runnerImage, keepLocally: true }, onHost)
    const controlPlaneImage = new docker.RemoteImage(
      `${name}-control-plane-image`,
      { name: args.controlPlaneImage, keepLocally: true },
      onHost,
    )

    const envValues: pulumi.Output<EnvFileValues> = pulumi
      .all([
        dbPassword,
        args.dispatchToken,
        args.runnerImage,
        args.gitToken,
        args.openaiApiKey,
        args.codexAuthJson,
      ])
      .apply(([dbPw, token, runnerImage, gitToken, openaiApiKey, codexAuthJson]) => ({
        databaseUrl: `postgres://codex:${dbPw}@postgres:5432/codex`,
        dispatchToken: token,
        runnerImage,
        runnerConcurrency: args.runnerConcurrency,
        dataDir: HOST_PATHS.dataDir,
        port: HOST_PORTS.controlPlane,
        gitToken,
        openaiApiKey,
        codexAuthJson,
      }))
    const envFile = new command.remote.Command(
      `${name}-env-file`,
      {
        connection: args.connection,
        create: renderWriteStdinScript(HOST_PATHS.envFile, '600'),
        stdin: pulumi.secret(envValues.apply(renderEnvFile)),
        triggers: [args.hostReady],
      },
      parent,
    )
    const dockerGid = new command.remote.Command(
      `${name}-docker-gid`,
      { connection: args.connection, create: renderDockerGidScript(), triggers: [args.hostReady] },
      parent,
    )

    const controlPlane = new docker.Container(
      `${name}-control-plane`,
      {
        name: 'codex-dispatcher',
        image: controlPlaneImage.imageId,
        restart: 'unless-stopped',
        // Same variables as the .env file, from the same renderer (secret as a whole).
        envs: pulumi.secret(envValues.apply((v) => envEntries(v).map(([k, val]) => `${k}=${val}`))),
        groupAdds: [dockerGid.stdout.apply((s) => s.trim())],
        volumes: [
          { hostPath: '/var/run/docker.sock', containerPath: '/var/run/docker.sock' },
          // Same path inside and out: the control plane bind-mounts run directories into runner
          // containers by host path.
          { hostPath: HOST_PATHS.dataDir, containerPath: HOST_PATHS.dataDir },
        ],
        ports: [{ internal: HOST_PORTS.controlPlane, external: HOST_PORTS.controlPlane, ip: '127.0.0.1' }],
        networksAdvanced: [{ name: network.name }],
        healthcheck: {
          tests: ['CMD', 'node', '-e', `fetch('http://127.0.0.1:${HOST_PORTS.controlPlane}/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))`],
          interval: '15s',
          timeout: '5s',
          retries: 3,
          startPeriod: '20s',
        },
        wait: true,
        waitTimeout: 180,
      },
      { ...onHost, dependsOn: [postgres, envFile] },
    )

    this.containerName = controlPlane.name
    this.registerOutputs({ containerName: this.containerName })
  }
}
