import t from 'tap'
import { isSecretEnvelope, resolveOutput, runProgram, TEST_SECRETS, type MockedResource } from './support/infra-mocks.js'

const { resources, outputs } = await runProgram()
const ofType = (type: string): MockedResource[] => resources.filter((r) => r.type === type)
const one = (type: string): MockedResource => {
  const found = ofType(type)
  if (found.length !== 1) throw new Error(`expected one ${type}, got ${found.length}`)
  return found[0]!
}

t.test('the program declares exactly the expected resources, grouped in one component per concern', async (t) => {
  const counts: Record<string, number> = {}
  for (const r of resources) counts[r.type] = (counts[r.type] ?? 0) + 1
  t.same(counts, {
    'pulumi:pulumi:Stack': 1,
    'codex-dispatcher:infra:Host': 1,
    'hcloud:index/sshKey:SshKey': 1,
    'hcloud:index/firewall:Firewall': 1,
    'hcloud:index/primaryIp:PrimaryIp': 1,
    'hcloud:index/server:Server': 1,
    'hcloud:index/volume:Volume': 1,
    'hcloud:index/volumeAttachment:VolumeAttachment': 1,
    'codex-dispatcher:infra:Bootstrap': 1,
    'codex-dispatcher:infra:Registry': 1,
    'codex-dispatcher:infra:Images': 1,
    'codex-dispatcher:infra:App': 1,
    'command:local:Command': 4, // wait for SSH, stage two build contexts, SSH key file for the Docker provider
    'command:remote:Command': 9, // cloud-init, volume, nginx http, certificates, nginx https, htpasswd, registry, .env, docker gid
    'random:index/randomPassword:RandomPassword': 3, // registry password, Postgres password, dispatch token
    'docker:index/image:Image': 2,
    'pulumi:providers:docker': 1,
    'docker:index/network:Network': 1,
    'docker:index/remoteImage:RemoteImage': 3,
    'docker:index/container:Container': 2,
  })
})

t.test('the firewall lets in TCP 22, 80 and 443 and nothing else', async (t) => {
  const rules = one('hcloud:index/firewall:Firewall').inputs.rules as { direction: string; protocol: string; port?: string }[]
  const inbound = rules.filter((r) => r.direction === 'in')
  t.same(inbound.filter((r) => r.protocol === 'tcp').map((r) => r.port).sort(), ['22', '443', '80'])
  t.same(inbound.filter((r) => r.protocol !== 'tcp').map((r) => r.protocol), ['icmp'], 'only ping besides')
  t.notOk(inbound.some((r) => r.protocol === 'udp'))
})

t.test('the server keeps its primary IPv4 and the volume is attached to it', async (t) => {
  const server = one('hcloud:index/server:Server')
  const ip = one('hcloud:index/primaryIp:PrimaryIp')
  const volume = one('hcloud:index/volume:Volume')
  const attach = one('hcloud:index/volumeAttachment:VolumeAttachment')
  const serverId = resources.indexOf(server) + 1
  t.equal(ip.inputs.autoDelete, false, 'the IP is not deleted with the server')
  t.same(server.inputs.publicNets, [{ ipv4Enabled: true, ipv4: resources.indexOf(ip) + 1, ipv6Enabled: true }])
  t.equal(attach.inputs.serverId, serverId)
  t.equal(attach.inputs.volumeId, resources.indexOf(volume) + 1)
  t.equal(server.inputs.image, 'debian-12')
  t.match(String(server.inputs.userData), /^#cloud-config\n/)
})

t.test('editing cloud-init or SSH keys never replaces the server', async (t) => {
  const server = one('hcloud:index/server:Server')
  t.same([...(server.opts.ignoreChanges ?? [])].sort(), ['sshKeys', 'userData'])
  t.ok(one('hcloud:index/volume:Volume').opts.protect, 'the data volume is protected from deletion')
  t.ok(one('hcloud:index/primaryIp:PrimaryIp').opts.protect, 'the IP is protected from deletion')
})

t.test('no secret appears in plaintext in a non-secret input or output', async (t) => {
  const secrets = [TEST_SECRETS.hcloudToken, 'key-material-8f3a2d', TEST_SECRETS.openaiApiKey, TEST_SECRETS.gitToken, TEST_SECRETS.generated]
  const leaks: string[] = []
  for (const r of resources) {
    for (const [prop, value] of Object.entries(r.inputs)) {
      if (isSecretEnvelope(value)) continue
      const text = JSON.stringify(value)
      for (const s of secrets) if (text.includes(s)) leaks.push(`${r.type} ${r.name}.${prop} holds ${s.slice(0, 12)}…`)
    }
  }
  t.same(leaks, [], 'every input holding a secret is marked secret')

  const sensitive = ['hcloud:index/server:Server', 'command:remote:Command', 'docker:index/container:Container', 'docker:index/image:Image', 'pulumi:providers:docker']
  t.ok(resources.some((r) => sensitive.includes(r.type) && Object.values(r.inputs).some(isSecretEnvelope)), 'secrets reach resources (wrapped)')

  for (const [name, value] of Object.entries(outputs)) {
    const { value: v, secret } = await resolveOutput(value)
    if (name === 'dispatchToken') {
      t.ok(secret, 'dispatchToken is a secret output')
      t.equal(v, `${TEST_SECRETS.generated}dispatch-token`, 'generated with @pulumi/random when unset')
      continue
    }
    t.notOk(secret, `${name} is plain`)
    for (const s of secrets) t.notOk(JSON.stringify(v).includes(s), `${name} holds no secret`)
  }
})

t.test('stack outputs give the endpoints', async (t) => {
  const plain = async (k: string) => (await resolveOutput(outputs[k])).value
  t.equal(await plain('apiUrl'), 'https://api.example.com')
  t.equal(await plain('uiUrl'), 'https://api.example.com/ui')
  t.equal(await plain('registryHost'), 'registry.example.com')
  t.equal(await plain('serverIpv4'), '203.0.113.10')
  t.equal(await plain('sshCommand'), 'ssh root@203.0.113.10')
})

t.test('images are tagged with the registry host and deployed by digest', async (t) => {
  const images = ofType('docker:index/image:Image')
  t.same(images.map((i) => String(i.inputs.imageName).replace(/:[0-9a-f]{16}$/, '')).sort(), [
    'registry.example.com/codex-dispatcher/control-plane',
    'registry.example.com/codex-dispatcher/runner',
  ])
  for (const i of images) t.match(i.inputs.build, { platform: 'linux/amd64', args: { BASE_IMAGE: 'node:20-bookworm-slim' } })
  const pulled = ofType('docker:index/remoteImage:RemoteImage').map((r) => String(r.inputs.name)).sort()
  t.same(pulled, [
    'postgres:16-bookworm',
    `registry.example.com/codex-dispatcher/control-plane@sha256:${'ab'.repeat(32)}`,
    `registry.example.com/codex-dispatcher/runner@sha256:${'ab'.repeat(32)}`,
  ])
})

t.test('the control plane runs with the socket and the data dir at the same path, restarted unless stopped', async (t) => {
  const cp = ofType('docker:index/container:Container').find((c) => c.inputs.name === 'codex-dispatcher')!
  t.equal(cp.inputs.restart, 'unless-stopped')
  t.same(cp.inputs.volumes, [
    { hostPath: '/var/run/docker.sock', containerPath: '/var/run/docker.sock' },
    { hostPath: '/srv/codex-dispatcher/data', containerPath: '/srv/codex-dispatcher/data' },
  ])
  t.same(cp.inputs.ports, [{ internal: 8080, external: 8080, ip: '127.0.0.1' }], 'published on loopback only')
  t.same(cp.inputs.groupAdds, ['998'], 'joins the docker socket group')
  t.match(cp.inputs.healthcheck, { tests: ['CMD', 'node', '-e', /\/healthz/] })
  t.ok(isSecretEnvelope(cp.inputs.envs), 'its environment is secret')
  const pg = ofType('docker:index/container:Container').find((c) => c.inputs.name === 'codex-dispatcher-postgres')!
  t.same(pg.inputs.volumes, [{ hostPath: '/srv/codex-dispatcher/postgres', containerPath: '/var/lib/postgresql/data' }])
  t.equal(pg.inputs.restart, 'unless-stopped')
})

t.test('the Docker provider reaches the host over SSH', async (t) => {
  const p = one('pulumi:providers:docker')
  t.equal(p.inputs.host, 'ssh://root@203.0.113.10')
  t.match(JSON.stringify(p.inputs.sshOpts), /codex-dispatcher-prod/)
})
