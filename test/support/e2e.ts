/**
 * Shared pieces of the end-to-end tests: Codex config pointing at the scripted model server, a
 * script chosen by a marker in the prompt (so concurrent runs share one model server), and
 * polling a run to its end the way a client does.
 */
import type { Api } from './service.js'
import { toolsThenMessage, type ModelRequest, type Script, type Turn } from './model-server.js'

/**
 * Codex config for a run: the scripted server as provider, key read from OPENAI_API_KEY.
 * @param extra TOML placed after the top-level keys (it may open tables of its own).
 */
export function mockProviderToml(modelUrl: string, extra = ''): string {
  return [
    'model_provider = "mock"',
    'model = "mock-model"',
    extra,
    '[model_providers.mock]',
    'name = "mock"',
    `base_url = "${modelUrl}"`,
    'env_key = "OPENAI_API_KEY"',
    'wire_api = "responses"',
    '',
  ].join('\n')
}

/** Texts of the user messages of a Responses-API request, in order. */
function userTexts(request: ModelRequest): string[] {
  const texts: string[] = []
  for (const item of request.input ?? []) {
    if (item.type !== 'message' || item.role !== 'user') continue
    for (const part of (item.content as { type: string; text?: string }[] | undefined) ?? []) {
      if (typeof part.text === 'string') texts.push(part.text)
    }
  }
  return texts
}

/**
 * A script that picks, by the last `[[e2e:NAME]]` marker in the request's user messages, which
 * tool calls and final message to answer with. Unknown markers end with a plain message.
 */
export function scriptByMarker(scripts: Record<string, { cmds: string[]; message: string }>): Script {
  return (request, index) => {
    const markers = userTexts(request).flatMap((t) => [...t.matchAll(/\[\[e2e:([\w-]+)\]\]/g)].map((m) => m[1]))
    const name = markers[markers.length - 1]
    const chosen = name ? scripts[name] : undefined
    if (!chosen) return { message: 'nothing scripted' }
    const step = toolsThenMessage(chosen.cmds, chosen.message) as (r: ModelRequest, i: number) => Turn
    return step(request, index)
  }
}

/** Polls `GET /runs/:id/record` until the run has a final status. @throws after `timeoutMs`. */
export async function waitForStatus(svc: Api, runId: string, statuses: string[], timeoutMs = 120_000): Promise<Record<string, any>> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const rec = (await (await svc.api(`/runs/${runId}/record`)).json()) as Record<string, any>
    if (statuses.includes(rec.status)) return rec
    if (Date.now() > deadline) throw new Error(`run ${runId} still ${rec.status} after ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 200))
  }
}

/**
 * Reads an offset route (`log`, `events`, `rollout`) from 0 to `eof` like a polling client.
 * @returns the whole content, every parsed event (for `events`), and the number of calls made.
 */
export async function pollToEof(
  svc: Api,
  runId: string,
  route: 'log' | 'events' | 'rollout',
  maxBytes = 4096,
  timeoutMs = 120_000,
): Promise<{ content: string; events: any[]; calls: number; last: Record<string, any> }> {
  const deadline = Date.now() + timeoutMs
  let offset = 0
  let content = ''
  const events: any[] = []
  let calls = 0
  for (;;) {
    const res = await svc.api(`/runs/${runId}/${route}?offset=${offset}&max_bytes=${maxBytes}`)
    calls++
    if (res.status === 404 && route === 'rollout') {
      await new Promise((r) => setTimeout(r, 200))
      continue
    }
    const w = (await res.json()) as Record<string, any>
    if (res.status !== 200) throw new Error(`${route} answered ${res.status}: ${JSON.stringify(w)}`)
    if (w.offset !== offset) throw new Error(`${route} window started at ${w.offset}, asked ${offset}`)
    content += w.content
    if (Array.isArray(w.events)) events.push(...w.events)
    offset = w.next_offset
    if (w.eof) return { content, events, calls, last: w }
    if (Date.now() > deadline) throw new Error(`${route} of ${runId} not at eof after ${timeoutMs} ms`)
    if (w.content === '') await new Promise((r) => setTimeout(r, 150))
  }
}
