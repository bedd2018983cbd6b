import { spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import t from 'tap'
import dotenv from 'dotenv'
import { loadConfig } from '../control-plane/src/config.js'
import { renderCloudInit } from '../infra/render/cloud-init.js'
import { envEntries, EnvRenderError, renderEnvFile, type EnvFileValues } from '../infra/render/env.js'
import { renderApiSite, renderHttpSite, renderRegistrySite } from '../infra/render/nginx.js'
import {
  renderDockerGidScript,
  renderHtpasswdScript,
  renderInstallFilesScript,
  renderIssueCertificatesScript,
  renderMountVolumeScript,
  renderReloadNginxHook,
  renderWaitForCloudInitScript,
  renderWaitForPortScript,
  renderWriteStdinScript,
} from '../infra/render/scripts.js'

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'infra-artifacts-'))
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }))

t.test('the rendered cloud-init passes `cloud-init schema`', async (t) => {
  const file = path.join(tmp, 'user-data.yaml')
  fs.writeFileSync(file, renderCloudInit({ acmeWebroot: '/var/www/acme', registryAddr: '127.0.0.1:5000', registryDir: '/srv/codex-dispatcher/registry' }))
  const r = spawnSync('cloud-init', ['schema', '--config-file', file], { encoding: 'utf8' })
  t.equal(r.status, 0, r.stdout + r.stderr)
  t.match(r.stdout, /Valid cloud-config/)
})

t.test('every shell script the program runs passes shellcheck', async (t) => {
  const scripts: Record<string, string> = {
    'wait-for-port': renderWaitForPortScript(),
    'wait-for-cloud-init': renderWaitForCloudInitScript(),
    'mount-volume': renderMountVolumeScript({ device: '/dev/disk/by-id/scsi-0HC_Volume_1', mountPoint: '/srv/x', dirs: [{ path: '/srv/x/data', owner: '1000:1000', mode: '750' }] }),
    'install-files': renderInstallFilesScript([{ path: '/etc/nginx/sites-enabled/a.conf', mode: '644', content: renderHttpSite({ serverNames: ['a.example'], acmeWebroot: '/w' }) }], 'nginx -t -q && systemctl reload nginx'),
    'write-stdin': renderWriteStdinScript('/srv/x/.env', '600', 'echo written'),
    'issue-certificates': renderIssueCertificatesScript({ email: "o'ps@example.com", webroot: '/var/www/acme', domains: ['api.example.com', 'registry.example.com'] }),
    'reload-nginx-hook': renderReloadNginxHook(),
    htpasswd: renderHtpasswdScript('/etc/nginx/x.htpasswd', 'codex-dispatcher'),
    'docker-gid': renderDockerGidScript(),
  }
  for (const [name, text] of Object.entries(scripts)) {
    const file = path.join(tmp, `${name}.sh`)
    fs.writeFileSync(file, text)
    const r = spawnSync('shellcheck', ['--shell=bash', '--severity=style', file], { encoding: 'utf8' })
    t.equal(r.status, 0, `${name}: ${r.stdout}`)
  }
})

t.test('the SSH dial retry waits until the port answers', async (t) => {
  const server = net.createServer((s) => s.end())
  const port = await new Promise<number>((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (probe.address() as net.AddressInfo).port
      probe.close(() => resolve(p))
    })
  })
  setTimeout(() => server.listen(port, '127.0.0.1'), 2500)
  t.teardown(() => server.close())
  const started = Date.now()
  // Run asynchronously: the listener above starts on this event loop while the script retries.
  const child = spawn('bash', ['-c', renderWaitForPortScript()], { env: { ...process.env, HOST: '127.0.0.1', PORT: String(port), TIMEOUT_S: '30' }, stdio: 'ignore' })
  t.teardown(() => child.kill())
  const status = await new Promise((resolve) => child.on('close', resolve))
  t.equal(status, 0)
  t.ok(Date.now() - started >= 2000, 'it retried until the listener came up')
  const late = spawnSync('bash', ['-c', renderWaitForPortScript()], { env: { ...process.env, HOST: '127.0.0.1', PORT: '1', TIMEOUT_S: '1' }, encoding: 'utf8' })
  t.equal(late.status, 1)
  t.match(late.stderr, /no TCP answer/)
})

t.test('files are installed atomically with their modes; secrets come from stdin only', async (t) => {
  const dir = path.join(tmp, 'install')
  const a = path.join(dir, 'sites', 'a.conf')
  const r = spawnSync('bash', ['-c', renderInstallFilesScript([{ path: a, mode: '644', content: 'server { return 200 "$host"; }' }], `echo installed`)], { encoding: 'utf8' })
  t.equal(r.status, 0, r.stderr)
  t.equal(fs.readFileSync(a, 'utf8'), 'server { return 200 "$host"; }\n', 'contents kept verbatim ($ not expanded)')
  t.equal(fs.statSync(a).mode & 0o777, 0o644)
  const env = path.join(dir, '.env')
  const w = spawnSync('bash', ['-c', renderWriteStdinScript(env, '600')], { input: 'SECRET=x\n', encoding: 'utf8' })
  t.equal(w.status, 0, w.stderr)
  t.equal(fs.readFileSync(env, 'utf8'), 'SECRET=x\n')
  t.equal(fs.statSync(env).mode & 0o777, 0o600)
  t.same(fs.readdirSync(dir).sort(), ['.env', 'sites'], 'no temp files left behind')
})

const production: EnvFileValues = {
  databaseUrl: 'postgres://codex:Pw0rd1234567890abcdef@postgres:5432/codex',
  dispatchToken: 'T'.repeat(48),
  runnerImage: `registry.example.com/codex-dispatcher/runner@sha256:${'ab'.repeat(32)}`,
  runnerConcurrency: 3,
  dataDir: '/srv/codex-dispatcher/data',
  port: 8080,
  gitToken: 'ghp_abc123',
  openaiApiKey: 'sk-proj-abc=123',
  codexAuthJson: '{\n  "OPENAI_API_KEY": null,\n  "tokens": {"id_token": "a.b.c", "refresh_token": "r-1"}\n}',
}

t.test('the rendered .env is exactly what the control plane config parser accepts', async (t) => {
  const text = renderEnvFile(production)
  const parsed = dotenv.parse(text)
  t.same(Object.entries(parsed), envEntries(production), 'dotenv reads back every variable unchanged')
  const cfg = loadConfig(parsed, '/')
  t.equal(cfg.host, '0.0.0.0')
  t.equal(cfg.port, 8080)
  t.equal(cfg.dataDir, '/srv/codex-dispatcher/data')
  t.equal(cfg.databaseUrl, production.databaseUrl)
  t.equal(cfg.dispatchToken, production.dispatchToken)
  t.equal(cfg.runnerBackend, 'docker')
  t.equal(cfg.dockerSocket, '/var/run/docker.sock')
  t.equal(cfg.runnerImage, production.runnerImage)
  t.equal(cfg.runnerConcurrency, 3)
  t.equal(cfg.secrets.gitToken, 'ghp_abc123')
  t.equal(cfg.secrets.openaiApiKey, 'sk-proj-abc=123')
  t.same(JSON.parse(cfg.secrets.codexAuthJson!), JSON.parse(production.codexAuthJson!))
  // docker's --env-file takes each line after the first "=" literally: same values.
  const dockerView = Object.fromEntries(text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]))
  t.same(dockerView, parsed)
})

t.test('values the .env format cannot carry are refused, not mangled', async (t) => {
  t.throws(() => renderEnvFile({ ...production, gitToken: 'abc#def' }), EnvRenderError)
  t.throws(() => renderEnvFile({ ...production, openaiApiKey: 'sk\nINJECTED=1' }), /OPENAI_API_KEY/)
  t.throws(() => renderEnvFile({ ...production, codexAuthJson: '{not json' }), /CODEX_AUTH_JSON/)
  const minimal = renderEnvFile({ ...production, gitToken: undefined, codexAuthJson: undefined })
  t.notMatch(minimal, /GIT_TOKEN|CODEX_AUTH_JSON/, 'unset secrets are left out')
  t.ok(loadConfig(dotenv.parse(minimal), '/'))
})

t.test('production nginx sites pass `nginx -t` with Debian\'s main configuration', async (t) => {
  // Debian's /etc/nginx/nginx.conf includes sites-enabled/*; test the sites there with temp certs.
  const dir = path.join(tmp, 'nginx-prod')
  fs.mkdirSync(path.join(dir, 'sites'), { recursive: true })
  const key = path.join(dir, 'key.pem')
  const cert = path.join(dir, 'cert.pem')
  spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=api.example.com', '-days', '1', '-keyout', key, '-out', cert])
  const snippets = path.join(process.cwd(), 'nginx', 'snippets')
  fs.writeFileSync(path.join(dir, 'sites', 'http.conf'), renderHttpSite({ serverNames: ['api.example.com', 'registry.example.com'], acmeWebroot: '/var/www/acme' }))
  fs.writeFileSync(path.join(dir, 'sites', 'api.conf'), renderApiSite({ serverName: 'api.example.com', certPath: cert, keyPath: key, upstream: '127.0.0.1:8080', snippetsDir: snippets }))
  fs.writeFileSync(path.join(dir, 'sites', 'registry.conf'), renderRegistrySite({ serverName: 'registry.example.com', certPath: cert, keyPath: key, upstream: '127.0.0.1:5000', snippetsDir: snippets, htpasswdFile: '/etc/nginx/x.htpasswd' }))
  const main = fs.readFileSync('/etc/nginx/nginx.conf', 'utf8')
    .replace(/include \/etc\/nginx\/sites-enabled\/\*;/, `include ${dir}/sites/*.conf;`)
    .replace(/^pid .*$/m, `pid ${dir}/nginx.pid;`)
  fs.writeFileSync(path.join(dir, 'nginx.conf'), main)
  const r = spawnSync('nginx', ['-t', '-c', path.join(dir, 'nginx.conf'), '-e', path.join(dir, 'error.log')], { encoding: 'utf8' })
  t.equal(r.status, 0, r.stderr)
  t.match(r.stderr, /test is successful/)
})
