// /ui in real headless Chromium (Debian's chromium, driven by playwright-core): token entry without
// the URL, a dispatched run appears in the list, its live log grows, the agent's messages and
// commands show readably, and cancel works. Screenshots go to test-artifacts/.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'
import t from 'tap'
import { startModelServer, toolsThenMessage } from './support/model-server.js'
import { startTestService, TEST_TOKEN } from './support/service.js'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const artifacts = path.join(root, 'test-artifacts', 'ui')
fs.mkdirSync(artifacts, { recursive: true })
const model = await startModelServer(toolsThenMessage(['echo hello > greeting.txt && cat greeting.txt'], 'I wrote greeting.txt for you.'))
t.teardown(() => model.close())
const svc = await startTestService(t, { OPENAI_API_KEY: 'sk-test-ui' })
const CONFIG = `model_provider = "mock"\nmodel = "mock-model"\n[model_providers.mock]\nname = "mock"\nbase_url = "${model.url}"\nenv_key = "OPENAI_API_KEY"\nwire_api = "responses"\n`

const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'cd-ui-chromium-'))
const browser = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  viewport: { width: 1400, height: 900 },
})
t.teardown(async () => {
  await browser.close()
  fs.rmSync(profile, { recursive: true, force: true })
})
const page = browser.pages()[0] ?? (await browser.newPage())
const requestUrls: string[] = []
const problems: string[] = []
page.on('request', (r) => requestUrls.push(r.url()))
page.on('console', (m) => {
  if (m.type() === 'error') problems.push(m.text())
})
page.on('pageerror', (e) => problems.push(e.message))

async function dispatch(body: Record<string, unknown>): Promise<string> {
  const res = await svc.api('/dispatch', { body: { config_toml: CONFIG, ...body } })
  return ((await res.json()) as { run_id: string }).run_id
}

t.test('the page asks for the token and keeps it out of the URL', async (t) => {
  const res = await fetch(`${svc.url}/ui`)
  t.equal(res.status, 200, 'the page itself needs no token')
  t.match(res.headers.get('content-security-policy') ?? '', /script-src 'sha256-/)
  await page.goto(`${svc.url}/ui`)
  await page.locator('#token-dialog').waitFor({ state: 'visible' })
  await page.fill('#token-input', 'not-the-token-at-all')
  await page.click('#token-form button[type=submit]')
  await page.locator('#token-message', { hasText: 'did not accept' }).waitFor()
  await page.fill('#token-input', TEST_TOKEN)
  await page.click('#token-form button[type=submit]')
  await page.locator('#runs').waitFor()
  t.equal(await page.evaluate(() => sessionStorage.getItem('codex-dispatcher.token')), TEST_TOKEN)
  t.equal(await page.evaluate(() => localStorage.length), 0)
})

t.test('a dispatched run appears, its live log grows, and cancel stops it', async (t) => {
  const id = await dispatch({ prompt: 'count slowly', state_key: 'ui-slow', pre_commands: ['for i in $(seq 1 60); do echo slow-line-$i; sleep 0.5; done'] })
  const row = page.locator(`tr[data-run-id="${id}"]`)
  await row.waitFor({ timeout: 10_000 })
  await row.locator('[data-status="running"]').waitFor({ timeout: 15_000 })
  t.match(await row.innerText(), /count slowly/)
  await page.screenshot({ path: path.join(artifacts, '1-runs-list.png'), fullPage: true })

  await row.locator('a.run-link').click()
  await page.locator('#raw-log', { hasText: 'slow-line-2' }).waitFor({ timeout: 15_000 })
  const early = (await page.locator('#raw-log').innerText()).length
  await page.locator('#raw-log', { hasText: 'slow-line-6' }).waitFor({ timeout: 15_000 })
  const later = (await page.locator('#raw-log').innerText()).length
  t.ok(later > early, `the live log grew (${early} → ${later} characters) without a reload`)
  t.match(await page.locator('#activity').innerText(), /\$ for i in/, 'the pre-command shows as a command')
  await page.screenshot({ path: path.join(artifacts, '2-run-live.png'), fullPage: true })

  await page.click('#cancel')
  await page.locator('#run-status [data-status="canceled"]').waitFor({ timeout: 30_000 })
  await page.locator('#stream-state', { hasText: 'ended' }).waitFor({ timeout: 15_000 })
  const record = (await (await svc.api(`/runs/${id}/record`)).json()) as { status: string; reason: string }
  t.equal(record.status, 'canceled')
  t.ok(await page.locator('#cancel').isHidden(), 'no cancel button on a finished run')
  await page.screenshot({ path: path.join(artifacts, '3-run-canceled.png'), fullPage: true })
})

t.test("a finished run shows the agent's messages and commands readably", async (t) => {
  const id = await dispatch({ prompt: 'write a greeting', state_key: 'ui-ok' })
  await page.goto(`${svc.url}/ui#/runs/${id}`)
  await page.locator('#run-status [data-status="succeeded"]').waitFor({ timeout: 60_000 })
  const activity = page.locator('#activity')
  await activity.locator('.entry-agent', { hasText: 'I wrote greeting.txt for you.' }).waitFor({ timeout: 15_000 })
  const command = activity.locator('.entry-command', { hasText: 'echo hello > greeting.txt' })
  t.match(await command.innerText(), /exit 0/)
  t.match(await command.innerText(), /hello/)
  await page.screenshot({ path: path.join(artifacts, '4-run-succeeded.png'), fullPage: true })

  await page.goto(`${svc.url}/ui#/?status=succeeded`)
  await page.locator(`tr[data-run-id="${id}"]`).waitFor()
  t.equal(await page.locator('#runs-body tr').count(), 1, 'the status filter shows only succeeded runs')
})

t.test('the token never reached a URL and the page raised no errors', async (t) => {
  t.ok(requestUrls.length > 5)
  t.notOk(requestUrls.some((u) => u.includes(TEST_TOKEN) || u.includes('not-the-token')), 'no request URL carries a token')
  t.same(problems.filter((p) => !/status of 401/.test(p)), [], 'no script errors or CSP violations')
})
