/**
 * Runs the Pulumi program (infra/index.ts) under `pulumi.runtime.setMocks` — Pulumi's documented
 * unit-test method — and records every resource registered, with its inputs as the engine sees them
 * (secret inputs stay wrapped in Pulumi's secret envelope, so tests can tell them apart).
 */
import * as pulumi from '@pulumi/pulumi'

/** One registered resource. */
export interface MockedResource {
  type: string
  name: string
  inputs: Record<string, unknown>
  /** Resource options the program passed (seen through a stack transformation). */
  opts: pulumi.ResourceOptions
}

/** Distinct plaintext secrets the test stack is configured with. */
export const TEST_SECRETS = {
  hcloudToken: 'hcloud-token-5b0d9c1e7a',
  sshPrivateKey: '-----BEGIN OPENSSH PRIVATE KEY-----\nkey-material-8f3a2d\n-----END OPENSSH PRIVATE KEY-----',
  openaiApiKey: 'sk-test-openai-4c1f9e',
  gitToken: 'ghp_test-git-token-7d2b',
  generated: 'generated-secret-value-', // prefix of every RandomPassword result
} as const

/** Returns true for a value in Pulumi's serialized secret envelope. */
export function isSecretEnvelope(v: unknown): boolean {
  return typeof v === 'object' && v !== null && (v as Record<string, unknown>)['4dabf18193072939515e22adb298388d'] === '1b47061264138c4ac30d75fd1eb44270'
}

/**
 * Loads the program with mocked providers and the given config (`codex-dispatcher:` keys unless
 * namespaced). Resolves with the registered resources and the program's exports.
 */
export async function runProgram(extraConfig: Record<string, string> = {}): Promise<{
  resources: MockedResource[]
  outputs: Record<string, unknown>
}> {
  const resources: MockedResource[] = []
  const optsByName = new Map<string, pulumi.ResourceOptions>()
  let n = 0
  pulumi.runtime.setMocks(
    {
      newResource(args: pulumi.runtime.MockResourceArgs) {
        n += 1
        resources.push({ type: args.type, name: args.name, inputs: args.inputs, opts: optsByName.get(args.name) ?? {} })
        const state: Record<string, unknown> = { ...args.inputs }
        if (args.type === 'hcloud:index/primaryIp:PrimaryIp') state.ipAddress = '203.0.113.10'
        if (args.type === 'hcloud:index/volume:Volume') state.linuxDevice = `/dev/disk/by-id/scsi-0HC_Volume_${n}`
        if (args.type === 'random:index/randomPassword:RandomPassword') state.result = `${TEST_SECRETS.generated}${args.name}`
        if (args.type === 'docker:index/image:Image') state.repoDigest = `${String(args.inputs.imageName).split(':')[0]}@sha256:${'ab'.repeat(32)}`
        if (args.type === 'docker:index/remoteImage:RemoteImage') state.imageId = `sha256:${'cd'.repeat(32)}`
        if (args.type.startsWith('command:')) state.stdout = args.name.endsWith('docker-gid') ? '998\n' : ''
        return { id: String(n), state }
      },
      call(args: pulumi.runtime.MockCallArgs) {
        return args.inputs
      },
    },
    'codex-dispatcher',
    'prod',
    false,
  )
  const config: Record<string, string> = {
    'codex-dispatcher:domain': 'example.com',
    'codex-dispatcher:acmeEmail': 'ops@example.com',
    'codex-dispatcher:sshPublicKey': 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAItest ops@example',
    'codex-dispatcher:sshPrivateKey': TEST_SECRETS.sshPrivateKey,
    'codex-dispatcher:openaiApiKey': TEST_SECRETS.openaiApiKey,
    'codex-dispatcher:gitToken': TEST_SECRETS.gitToken,
    'hcloud:token': TEST_SECRETS.hcloudToken,
    ...extraConfig,
  }
  const secretKeys = ['codex-dispatcher:sshPrivateKey', 'codex-dispatcher:openaiApiKey', 'codex-dispatcher:gitToken', 'hcloud:token', 'codex-dispatcher:dispatchToken', 'codex-dispatcher:codexAuthJson']
  pulumi.runtime.setAllConfig(config, secretKeys.filter((k) => k in config))
  // Run inside a root stack, as `pulumi up` does, so a stack transformation can observe options.
  let outputs: Record<string, unknown> = {}
  await pulumi.runtime.runInPulumiStack(async () => {
    pulumi.runtime.registerStackTransformation((a) => {
      optsByName.set(a.name, a.opts)
      return undefined
    })
    outputs = (await import(`../../infra/index.ts?run=${Date.now()}`)) as Record<string, unknown>
    return undefined
  })
  // Let every registration and apply settle.
  await new Promise((r) => setTimeout(r, 500))
  return { resources, outputs }
}

/** Resolves an Output (or plain value) to `{value, secret}`. */
export async function resolveOutput(o: unknown): Promise<{ value: unknown; secret: boolean }> {
  if (!pulumi.Output.isInstance(o)) return { value: o, secret: false }
  const out = o as pulumi.Output<unknown> & { isSecret: Promise<boolean> }
  const value = await new Promise((resolve) => out.apply((v) => resolve(v)))
  return { value, secret: await out.isSecret }
}
