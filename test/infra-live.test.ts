/**
 * What the Pulumi program puts on the host, run for real on loopback (issue 4, "Real artifacts"):
 * the rendered nginx sites in Debian's nginx in front of the real control plane, the registry site
 * in front of Debian's distribution registry with the real Docker daemon pushing and pulling, and
 * certbot obtaining certificates from a local pebble CA through the rendered HTTP site's webroot.
 */
import crypto from 'node:crypto'
import fs from 'node:fs'
import type http from 'node:http'
import path from 'node:path'
import tls from 'node:tls'
import t from 'tap'
import { createParser, type EventSourceMessage } from 'eventsource-parser'
import { parse as parseYaml } from 'yaml'
import { renderCloudInit } from '../infra/render/cloud-init.js'
import { renderApiSite, renderHttpSite, renderRegistrySite } from '../infra/render/nginx.js'
import { renderRegistryConfig } from '../infra/render/registry.js'
import { renderHtpasswdScript, renderInstallFilesScript, renderIssueCertificatesScript } from '../infra/render/scripts.js'
import { startPebble } from './support/infra-acme.js'
import { hostCommandShims, nginxPrefix, startNginx } from './support/infra-nginx.js'
import { freePort, open, request, run, selfSignedCert, startDaemon, tempDir, waitFor, waitForPort } from './support/infra-procs.js'
import { startTestService, TEST_TOKEN } from './support/service.js'

const DOMAIN = 'example.test'
const API_HOST = `api.${DOMAIN}`
const REGISTRY_HOST = `registry.${DOMAIN}`

/** Reads Server-Sent Events from an open response, one at a time, noting when each arrived. */
function sseReader(res: http.IncomingMessage) {
  const queue: (EventSourceMessage & { at: number })[] = []
  let wake: (() => void) | null = null
  let ended = false
  const parser = createParser({ onEvent: (e) => queue.push({ ...e, at: Date.now() }) })
  res.setEncoding('utf8')
  res.on('data', (chunk: string) => {
    parser.feed(chunk)
    wake?.()
  })
  res.on('close', () => {
    ended = true
    wake?.()
  })
  return {
    get ended() {
      return ended
    },
    /** The next event; rejects after `timeoutMs` or when the response ends first. */
    async next(timeoutMs: number): Promise<EventSourceMessage & { at: number }> {
      const deadline = Date.now() + timeoutMs
      while (queue.length === 0) {
        if (ended) throw new Error('the stream ended')
        const left = deadline - Date.now()
        if (left <= 0) throw new Error(`no event within ${timeoutMs} ms`)
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left)
          wake = () => {
            clearTimeout(timer)
            resolve()
          }
        })
      }
      return queue.shift()!
    },
  }
}

t.test('nginx with the rendered sites in front of the real control plane', async (t) => {
  const svc = await startTestService(t, { RUNNER_BACKEND: 'process' })
  // Runs dispatched below stay queued: this test writes their logs itself.
  await svc.scheduler!.stop()
  const upstream = `127.0.0.1:${new URL(svc.url).port}`

  const dir = tempDir(t, 'infra-live-api-')
  const webroot = path.join(dir, 'acme')
  fs.mkdirSync(path.join(webroot, '.well-known', 'acme-challenge'), { recursive: true, mode: 0o755 })
  const cert = await selfSignedCert(dir, [API_HOST])
  const [httpPort, httpsPort] = [await freePort(), await freePort()]
  const prefix = nginxPrefix(t)
  const nginx = await startNginx(
    t,
    prefix,
    {
      'http.conf': renderHttpSite({ serverNames: [API_HOST, REGISTRY_HOST], acmeWebroot: webroot, listen: [`127.0.0.1:${httpPort}`], httpsPort }),
      'api.conf': renderApiSite({ serverName: API_HOST, listen: [`127.0.0.1:${httpsPort}`], ...cert, upstream, snippetsDir: prefix.snippetsDir }),
    },
    [httpPort, httpsPort],
  )
  const api = `https://127.0.0.1:${httpsPort}`
  const via = (p: string, o: { method?: string; headers?: Record<string, string>; body?: string } = {}) =>
    request(api + p, { ...o, hostname: API_HOST, ca: cert.pem })
  const authed = { 'X-Dispatch-Token': TEST_TOKEN }

  t.test('the client\'s X-Request-Id reaches the control plane and comes back; nginx makes one when absent', async (t) => {
    const health = await via('/healthz', { headers: { 'X-Request-Id': 'client-req-42' } })
    t.equal(health.status, 200)
    t.equal(health.body, 'ok')
    t.equal(health.headers['x-request-id'], 'client-req-42', 'the id the client sent is the id the control plane echoed')

    const generated = await via('/runs', { headers: authed })
    t.equal(generated.status, 200, generated.body)
    t.match(generated.headers['x-request-id'], /^[0-9a-f]{32}$/, 'nginx\'s $request_id (32 hex), not the control plane\'s own UUID')
    const again = await via('/runs', { headers: authed })
    t.not(again.headers['x-request-id'], generated.headers['x-request-id'], 'a new id per request')

    const direct = await request(svc.url + '/healthz')
    t.match(direct.headers['x-request-id'], /^[0-9a-f]{8}-[0-9a-f]{4}-/, 'without nginx the control plane makes a UUID, so the 32-hex id above came from nginx')

    const refused = await via('/runs', { headers: { 'X-Request-Id': 'no-token-1' } })
    t.equal(refused.status, 401, 'auth is the control plane\'s, passed through unchanged')
    t.equal(refused.headers['x-request-id'], 'no-token-1')
    t.match(JSON.parse(refused.body), { error: { code: String } })
    t.match(health.headers['strict-transport-security'], /max-age=31536000/, 'the TLS snippet is in effect')
  })

  t.test('plain HTTP serves ACME challenges from the webroot and redirects everything else to HTTPS', async (t) => {
    fs.writeFileSync(path.join(webroot, '.well-known', 'acme-challenge', 'tok-123'), 'tok-123.thumbprint')
    const http = `http://127.0.0.1:${httpPort}`
    const challenge = await request(`${http}/.well-known/acme-challenge/tok-123`, { hostname: API_HOST })
    t.equal(challenge.status, 200)
    t.equal(challenge.body, 'tok-123.thumbprint')
    t.match(challenge.headers['content-type'], /^text\/plain/)
    const registryChallenge = await request(`${http}/.well-known/acme-challenge/tok-123`, { hostname: REGISTRY_HOST })
    t.equal(registryChallenge.body, 'tok-123.thumbprint', 'the same webroot answers for the registry name')
    const missing = await request(`${http}/.well-known/acme-challenge/nope`, { hostname: API_HOST })
    t.equal(missing.status, 404, 'an unknown token is 404, not a redirect')

    const redirect = await request(`${http}/runs?status=queued`, { hostname: API_HOST })
    t.equal(redirect.status, 301)
    t.equal(redirect.headers.location, `https://${API_HOST}:${httpsPort}/runs?status=queued`)
    const registry = await request(`${http}/v2/`, { hostname: REGISTRY_HOST })
    t.equal(registry.headers.location, `https://${REGISTRY_HOST}:${httpsPort}/v2/`)

    const followed = new URL(redirect.headers.location!)
    const res = await request(`https://127.0.0.1:${followed.port}${followed.pathname}${followed.search}`, { hostname: followed.hostname, ca: cert.pem, headers: authed })
    t.equal(res.status, 200, 'the redirect target is the API over TLS')
    t.same(JSON.parse(res.body).runs, [])
  })

  t.test('a run\'s event stream arrives through nginx line by line while the response stays open', async (t) => {
    const dispatched = await via('/dispatch', {
      method: 'POST',
      headers: { ...authed, 'Content-Type': 'application/json' },
      body: JSON.stringify({ prompt: 'stream test', config_toml: '' }),
    })
    t.equal(dispatched.status, 202, dispatched.body)
    const runId = JSON.parse(dispatched.body).run_id as string
    const log = svc.layout.runLog(runId)
    fs.mkdirSync(path.dirname(log), { recursive: true })

    const res = await open(`${api}/runs/${runId}/stream`, { hostname: API_HOST, ca: cert.pem, headers: { ...authed, 'X-Request-Id': 'stream-1' } })
    t.equal(res.statusCode, 200)
    t.match(res.headers['content-type'], /^text\/event-stream/)
    t.equal(res.headers['x-request-id'], 'stream-1')
    t.notOk(res.headers['content-length'], 'no length: the response is open-ended')
    const events = sseReader(res)
    t.teardown(() => res.destroy())

    const first = { type: 'turn.started' }
    const wroteFirst = Date.now()
    fs.appendFileSync(log, JSON.stringify(first) + '\n')
    const e1 = await events.next(5000)
    t.equal(e1.event, 'event')
    t.same(JSON.parse(e1.data), first)
    t.ok(e1.at - wroteFirst < 2000, `first line arrived ${e1.at - wroteFirst} ms after it was written`)
    t.notOk(events.ended, 'the response is still open')

    await new Promise((r) => setTimeout(r, 300))
    const wroteSecond = Date.now()
    fs.appendFileSync(log, 'plain runner output\n')
    const e2 = await events.next(5000)
    t.equal(e2.event, 'log')
    t.equal(e2.data, 'plain runner output')
    t.ok(e2.at - wroteSecond < 2000, `second line arrived ${e2.at - wroteSecond} ms after it was written`)
    t.ok(e1.at < wroteSecond, 'the first event was delivered before the second line existed: nothing is held back')
    t.equal(Number(e2.id), fs.statSync(log).size, 'event ids are byte offsets of the log')
    t.notOk(events.ended, 'still open after two events')

    const canceled = await via(`/runs/${runId}/cancel`, { method: 'POST', headers: authed })
    t.equal(canceled.status, 200, canceled.body)
    const end = await events.next(5000)
    t.equal(end.event, 'end')
    t.match(JSON.parse(end.data), { status: 'canceled' })
    await waitFor('the stream to close after its end event', () => events.ended)
  })

  t.test('request bodies and timeouts are as rendered', async (t) => {
    const json = (bytes: number) => JSON.stringify({ prompt: 'x'.repeat(bytes), config_toml: '' })
    const headers = { ...authed, 'Content-Type': 'application/json' }
    const passed = await via('/dispatch', { method: 'POST', headers, body: json(2 * 1024 * 1024) })
    t.equal(passed.status, 413, 'a 2 MiB body passes nginx (16m) and meets the control plane\'s 1 MiB limit')
    t.equal(JSON.parse(passed.body).error.code, 'body_too_large', 'the 413 is the control plane\'s JSON envelope')

    const blocked = await via('/dispatch', { method: 'POST', headers, body: json(17 * 1024 * 1024) })
    t.equal(blocked.status, 413, 'a 17 MiB body is refused by nginx itself')
    t.match(blocked.body, /<center>nginx\/[\d.]+<\/center>/, 'nginx\'s own error page: the control plane never saw it')

    const dump = await nginx.dump()
    t.equal(dump.status, 0, dump.stderr)
    const site = dump.stdout.slice(dump.stdout.indexOf(`# configuration file ${path.join(prefix.sitesDir, 'api.conf')}:`))
    const server = site.slice(site.indexOf('server {'))
    const stream = server.slice(server.indexOf('location ~ ^/runs/[^/]+/stream$'), server.indexOf('location / {'))
    t.match(server, /client_max_body_size 16m;/)
    t.match(server, /proxy_connect_timeout 5s;/)
    t.match(server, /proxy_send_timeout 60s;/)
    t.match(server, /proxy_read_timeout 120s;/, 'ordinary API routes: 120 s')
    t.match(stream, /proxy_read_timeout 1h;/, 'the SSE route may stay quiet for up to an hour (the control plane sends keep-alives every 15 s)')
    t.match(stream, /proxy_buffering off;/)
  })
})

t.test('the registry behind nginx takes docker login/push/pull with its htpasswd credentials and refuses them without', async (t) => {
  const dir = tempDir(t, 'infra-live-registry-')
  const [registryPort, httpsPort] = [await freePort(), await freePort()]
  const configFile = path.join(dir, 'config.yml')
  fs.writeFileSync(configFile, renderRegistryConfig({ addr: `127.0.0.1:${registryPort}`, rootDirectory: path.join(dir, 'storage') }))
  const registry = await startDaemon(t, 'docker-registry', 'docker-registry', ['serve', configFile], { logFile: path.join(dir, 'registry.log') })
  await waitFor('the registry to answer /v2/', async () => (await request(`http://127.0.0.1:${registryPort}/v2/`)).status === 200, { daemon: registry })

  const user = 'codex-dispatcher'
  const password = crypto.randomBytes(20).toString('hex')
  const htpasswdFile = path.join(dir, 'registry.htpasswd')
  const hp = await run('bash', ['-c', renderHtpasswdScript(htpasswdFile, user)], { input: password })
  t.equal(hp.status, 0, `the project's htpasswd script ran: ${hp.stderr}`)
  t.match(fs.readFileSync(htpasswdFile, 'utf8'), new RegExp(`^${user}:\\$2y\\$`), 'one bcrypt entry')

  const cert = await selfSignedCert(dir, [REGISTRY_HOST])
  const prefix = nginxPrefix(t)
  const nginx = await startNginx(
    t,
    prefix,
    { 'registry.conf': renderRegistrySite({ serverName: REGISTRY_HOST, listen: [`127.0.0.1:${httpsPort}`], ...cert, upstream: `127.0.0.1:${registryPort}`, snippetsDir: prefix.snippetsDir, htpasswdFile }) },
    [httpsPort],
  )
  // Docker allows registries on 127.0.0.0/8 without a trusted certificate; TLS is still spoken.
  const host = `127.0.0.1:${httpsPort}`
  const v2 = (p: string, auth?: string) =>
    request(`https://${host}/v2/${p}`, { hostname: REGISTRY_HOST, ca: cert.pem, headers: auth ? { Authorization: `Basic ${Buffer.from(auth).toString('base64')}` } : {} })

  const tag = crypto.randomBytes(4).toString('hex')
  const pushed = `${host}/codex-dispatcher/infra-live:${tag}`
  const unauthorized = `${host}/codex-dispatcher/unauthorized:${tag}`
  const withCreds = tempDir(t, 'infra-live-docker-config-')
  const withoutCreds = tempDir(t, 'infra-live-docker-noauth-')
  const docker = (config: string, ...args: string[]) => run('docker', ['--config', config, ...args], { timeoutMs: 90_000 })
  t.teardown(async () => {
    await docker(withoutCreds, 'rmi', '--force', pushed, unauthorized)
  })

  t.test('/v2/ asks for Basic credentials and accepts only the right ones', async (t) => {
    const anonymous = await v2('')
    t.equal(anonymous.status, 401)
    t.equal(anonymous.headers['www-authenticate'], 'Basic realm="codex-dispatcher registry"')
    t.equal(anonymous.headers['docker-distribution-api-version'], 'registry/2.0', 'the header docker looks for, also on nginx\'s own 401')
    t.match(anonymous.headers['strict-transport-security'], /max-age=31536000/, 'the TLS snippet\'s HSTS header reaches /v2/ answers')
    t.equal((await v2('', `${user}:wrong-password`)).status, 401)
    const ok = await v2('', `${user}:${password}`)
    t.equal(ok.status, 200)
    t.equal(ok.body.trim(), '{}')
    t.equal(ok.headers['docker-distribution-api-version'], 'registry/2.0', 'the registry\'s own header, once (nginx adds none on top)')
    t.match(ok.headers['strict-transport-security'], /max-age=31536000/)
  })

  t.test('docker login, push and pull succeed with the credentials', async (t) => {
    // A one-layer image with a 4 MiB incompressible file: larger than nginx's default 1 MiB body limit.
    const rootfs = path.join(dir, 'rootfs')
    fs.mkdirSync(rootfs)
    fs.writeFileSync(path.join(rootfs, 'random.bin'), crypto.randomBytes(4 * 1024 * 1024))
    fs.writeFileSync(path.join(rootfs, 'hello.txt'), `infra-live ${tag}\n`)
    const tar = path.join(dir, 'rootfs.tar')
    const tarred = await run('tar', ['-C', rootfs, '-cf', tar, '.'])
    t.equal(tarred.status, 0, tarred.stderr)
    const imported = await docker(withCreds, 'import', tar, pushed)
    t.equal(imported.status, 0, imported.stderr)
    const imageId = imported.stdout.trim()

    const badLogin = await run('docker', ['--config', withCreds, 'login', host, '--username', user, '--password-stdin'], { input: 'not-the-password' })
    t.not(badLogin.status, 0, 'a wrong password is refused at login')
    t.match(badLogin.stderr, /401|unauthorized/i)

    const login = await run('docker', ['--config', withCreds, 'login', host, '--username', user, '--password-stdin'], { input: password })
    t.equal(login.status, 0, login.stderr)
    t.match(login.stdout, /Login Succeeded/)
    t.match(fs.readFileSync(path.join(withCreds, 'config.json'), 'utf8'), host, 'credentials went to the temp DOCKER_CONFIG only')

    const push = await docker(withCreds, 'push', pushed)
    t.equal(push.status, 0, push.stderr + push.stdout)
    const tags = await v2('codex-dispatcher/infra-live/tags/list', `${user}:${password}`)
    t.same(JSON.parse(tags.body), { name: 'codex-dispatcher/infra-live', tags: [tag] }, 'the registry holds the pushed tag')

    const removed = await docker(withCreds, 'rmi', pushed)
    t.equal(removed.status, 0, removed.stderr)
    t.not((await docker(withCreds, 'image', 'inspect', imageId)).status, 0, 'the image is gone locally before the pull')
    const pull = await docker(withCreds, 'pull', pushed)
    t.equal(pull.status, 0, pull.stderr + pull.stdout)
    const inspect = await docker(withCreds, 'image', 'inspect', '--format', '{{.Id}}', pushed)
    t.equal(inspect.stdout.trim(), imageId, 'the pulled image is the pushed one')
    const pulls = nginx.accessLines().filter((l) => / "GET \/v2\/codex-dispatcher\/infra-live\/blobs\/sha256:[0-9a-f]+ HTTP\/[0-9.]+" 200 /.test(l))
    t.ok(pulls.length >= 1, 'layer blobs were downloaded through nginx')
  })

  t.test('push and pull without credentials are refused with 401', async (t) => {
    const tagged = await docker(withoutCreds, 'tag', pushed, unauthorized)
    t.equal(tagged.status, 0, tagged.stderr)
    const before = nginx.accessLines().length
    const push = await docker(withoutCreds, 'push', unauthorized)
    t.not(push.status, 0, 'push without credentials fails')
    t.match(push.stderr, /no basic auth credentials|unauthorized|401/i)
    const refusedPush = nginx.accessLines().slice(before)
    t.ok(refusedPush.length > 0 && refusedPush.every((l) => / 401 /.test(l)), `every request of that push got 401:\n${refusedPush.join('\n')}`)
    t.equal((await v2('codex-dispatcher/unauthorized/tags/list', `${user}:${password}`)).status, 404, 'nothing of it reached the registry')

    t.equal((await docker(withoutCreds, 'rmi', pushed, unauthorized)).status, 0)
    const mark = nginx.accessLines().length
    const pull = await docker(withoutCreds, 'pull', pushed)
    t.not(pull.status, 0, 'pull without credentials fails')
    t.not((await docker(withoutCreds, 'image', 'inspect', pushed)).status, 0, 'and nothing was pulled')
    // After the 401 over TLS, dockerd retries a registry it deems insecure (127.0.0.0/8) over plain
    // HTTP, which nginx refuses with 400 on its TLS port; that last error is the one docker prints.
    const refusedPull = nginx.accessLines().slice(mark)
    t.ok(refusedPull.some((l) => / "(GET|HEAD) \/v2\/[^"]*" 401 /.test(l)), `the registry answered 401:\n${refusedPull.join('\n')}`)
    t.ok(refusedPull.every((l) => / (401|400) /.test(l)), `no request of that pull was served:\n${refusedPull.join('\n')}`)
  })
})

t.test('certbot gets certificates from an ACME CA through the rendered webroot, and a renewal reloads nginx', async (t) => {
  const dir = tempDir(t, 'infra-live-certbot-')
  const webroot = path.join(dir, 'acme')
  const [httpPort, apiPort, registryPort] = [await freePort(), await freePort(), await freePort()]
  const prefix = nginxPrefix(t)
  const shims = hostCommandShims(t, prefix)
  // As on the host: only the HTTP site exists while the certificates are obtained.
  const nginx = await startNginx(
    t,
    prefix,
    { 'http.conf': renderHttpSite({ serverNames: [API_HOST, REGISTRY_HOST], acmeWebroot: webroot, listen: [`127.0.0.1:${httpPort}`] }) },
    [httpPort],
  )
  const pebble = await startPebble(t, { httpPort })
  const letsencrypt = path.join(dir, 'letsencrypt')
  const certbotDirs = ['--config-dir', letsencrypt, '--work-dir', path.join(dir, 'work'), '--logs-dir', path.join(dir, 'logs')]
  const env = { ...process.env, REQUESTS_CA_BUNDLE: pebble.listenerCaFile, PATH: `${shims.binDir}:${process.env.PATH}` }
  const live = (name: string, file: string) => path.join(letsencrypt, 'live', name, file)
  const root = await pebble.issuerRoot()
  const rootFile = path.join(dir, 'pebble-root.pem')
  fs.writeFileSync(rootFile, root)
  const serialOf = async (file: string) => (await run('openssl', ['x509', '-in', file, '-noout', '-serial'])).stdout.trim().replace(/^serial=/, '').toUpperCase()
  /** Serial of the certificate nginx serves for `name` on `port`, verified against pebble's root. */
  const servedSerial = (name: string, port: number) =>
    new Promise<string>((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port, servername: name, ca: root }, () => {
        resolve(s.getPeerCertificate().serialNumber.toUpperCase())
        s.end()
      })
      s.once('error', reject)
    })

  t.test('the bootstrap\'s certbot script issues one pebble certificate per name over http-01', async (t) => {
    const script = renderIssueCertificatesScript({ email: `ops@${DOMAIN}`, webroot, domains: [API_HOST, REGISTRY_HOST] })
    const issued = await run('bash', ['-c', script, 'issue-certificates', '--server', pebble.directoryUrl, ...certbotDirs], { env, timeoutMs: 90_000 })
    t.equal(issued.status, 0, issued.stdout + issued.stderr)
    const intermediate = path.join(dir, 'pebble-intermediate.pem')
    fs.writeFileSync(intermediate, await pebble.issuerIntermediate())
    for (const name of [API_HOST, REGISTRY_HOST]) {
      const fullchain = live(name, 'fullchain.pem')
      t.ok(fs.existsSync(live(name, 'privkey.pem')), `${name}: private key`)
      const x509 = await run('openssl', ['x509', '-in', fullchain, '-noout', '-issuer', '-ext', 'subjectAltName'])
      t.match(x509.stdout, /issuer=CN = Pebble Intermediate CA/, `${name}: issued by pebble`)
      t.match(x509.stdout, new RegExp(`DNS:${name.replace(/\./g, '\\.')}\\s*$`, 'm'), `${name}: for exactly that name`)
      const verified = await run('openssl', ['verify', '-CAfile', rootFile, '-untrusted', intermediate, live(name, 'cert.pem')])
      t.equal(verified.status, 0, `${name}: chains to this pebble's root: ${verified.stdout}${verified.stderr}`)
    }
    const challenges = nginx.accessLines().filter((l) => / "GET \/\.well-known\/acme-challenge\/[\w-]+ HTTP\/1\.1" 200 /.test(l))
    t.ok(challenges.length >= 2, `pebble fetched both http-01 tokens from nginx:\n${nginx.accessLines().join('\n')}`)
    t.same(fs.readdirSync(path.join(webroot, '.well-known', 'acme-challenge')), [], 'certbot removed its tokens')

    const again = await run('bash', ['-c', script, 'issue-certificates', '--server', pebble.directoryUrl, ...certbotDirs], { env, timeoutMs: 90_000 })
    t.equal(again.status, 0, again.stderr)
    t.match(again.stdout + again.stderr, /not yet due for renewal/i, 'a re-run (pulumi up again) keeps the certificates')
  })

  t.test('the HTTPS sites serve them once installed, and certbot renew reloads nginx through the cloud-init deploy hook', async (t) => {
    const sites = [
      {
        path: path.join(prefix.sitesDir, 'codex-dispatcher-api.conf'),
        mode: '644',
        content: renderApiSite({ serverName: API_HOST, listen: [`127.0.0.1:${apiPort}`], certPath: live(API_HOST, 'fullchain.pem'), keyPath: live(API_HOST, 'privkey.pem'), upstream: '127.0.0.1:9', snippetsDir: prefix.snippetsDir }),
      },
      {
        path: path.join(prefix.sitesDir, 'codex-dispatcher-registry.conf'),
        mode: '644',
        content: renderRegistrySite({ serverName: REGISTRY_HOST, listen: [`127.0.0.1:${registryPort}`], certPath: live(REGISTRY_HOST, 'fullchain.pem'), keyPath: live(REGISTRY_HOST, 'privkey.pem'), upstream: '127.0.0.1:9', snippetsDir: prefix.snippetsDir, htpasswdFile: path.join(dir, 'htpasswd') }),
      },
    ]
    // The Bootstrap's install step, with its own `nginx -t -q && systemctl reload nginx`.
    const installed = await run('bash', ['-c', renderInstallFilesScript(sites, 'nginx -t -q && systemctl reload nginx')], { env })
    t.equal(installed.status, 0, installed.stderr)
    await waitForPort(apiPort, nginx.daemon)
    await waitForPort(registryPort, nginx.daemon)
    const firstApi = await serialOf(live(API_HOST, 'cert.pem'))
    t.equal(await servedSerial(API_HOST, apiPort), firstApi, 'the API site serves the issued certificate, trusted via pebble\'s root')
    t.equal(await servedSerial(REGISTRY_HOST, registryPort), await serialOf(live(REGISTRY_HOST, 'cert.pem')))

    // The deploy hook exactly as cloud-init writes it on the host, moved into this certbot's config dir.
    const cloudInit = parseYaml(renderCloudInit({ acmeWebroot: webroot, registryAddr: '127.0.0.1:5000', registryDir: dir }).replace(/^#cloud-config\n/, ''))
    const hook = (cloudInit.write_files as { path: string; permissions: string; content: string }[]).find((f) => f.path.startsWith('/etc/letsencrypt/renewal-hooks/deploy/'))
    t.ok(hook, 'cloud-init installs a certbot deploy hook')
    const hookFile = path.join(letsencrypt, hook!.path.slice('/etc/letsencrypt/'.length))
    fs.mkdirSync(path.dirname(hookFile), { recursive: true })
    fs.writeFileSync(hookFile, hook!.content, { mode: parseInt(hook!.permissions, 8) })

    const reloadsBefore = nginx.reloads()
    const renewed = await run('certbot', ['renew', '--force-renewal', '--no-random-sleep-on-renew', '--non-interactive', ...certbotDirs], { env, timeoutMs: 90_000 })
    t.equal(renewed.status, 0, renewed.stdout + renewed.stderr)
    const certbotLog = fs.readFileSync(path.join(dir, 'logs', 'letsencrypt.log'), 'utf8')
    t.equal(certbotLog.match(/Running deploy-hook command: .*\/renewal-hooks\/deploy\/reload-nginx$/gm)?.length, 2, 'certbot ran the deploy hook once per certificate')
    const calls = fs.readFileSync(shims.callsFile, 'utf8').trim().split('\n')
    t.same(calls, ['reload nginx', 'reload nginx', 'reload nginx'], 'one reload from the install step, one per renewed certificate from the hook')
    await waitFor('nginx to apply the reloads', () => nginx.reloads() >= reloadsBefore + 1, { daemon: nginx.daemon })
    const renewedApi = await serialOf(live(API_HOST, 'cert.pem'))
    t.not(renewedApi, firstApi, 'certbot renewed the API certificate')
    const served = await waitFor('nginx to serve the renewed certificate', async () => {
      const s = await servedSerial(API_HOST, apiPort)
      return s === renewedApi ? s : undefined
    })
    t.equal(served, renewedApi, 'after the hook\'s reload nginx serves the renewed certificate')
    t.equal(await servedSerial(REGISTRY_HOST, registryPort), await serialOf(live(REGISTRY_HOST, 'cert.pem')))
  })
})
