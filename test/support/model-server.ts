/**
 * A scripted OpenAI Responses-API server for driving the real Codex CLI in tests.
 *
 * Codex 0.169.0 speaks the Responses API streaming protocol (`POST /v1/responses`, answered with
 * `text/event-stream`): it reads `response.created`, one `response.output_item.done` per output item
 * and `response.completed` (with `usage`). A `function_call` item named `exec_command` with
 * arguments `{"cmd": "…"}` makes the CLI run a shell command and send its output back as a
 * `function_call_output` input item in the next request (see shared/ENVIRONMENT.md).
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'

/** One model answer: run a shell command through the `exec_command` tool, or end with a message. */
export type Turn = { tool: 'exec_command'; cmd: string } | { message: string }

/** A request body Codex sent to `POST /v1/responses` (Responses API shape, kept as parsed JSON). */
export interface ModelRequest {
  model?: string
  input?: Array<Record<string, unknown>>
  [key: string]: unknown
}

/**
 * The script: a list of turns answered in order (one per request, across every client), or a
 * function choosing the turn from the request and its 0-based index.
 */
export type Script = Turn[] | ((request: ModelRequest, index: number) => Turn)

export interface ModelServer {
  /** Base URL for a Codex `model_providers.<id>.base_url`, e.g. `http://127.0.0.1:PORT/v1`. */
  url: string
  /** Every `POST /v1/responses` body received, in order. */
  requests: ModelRequest[]
  /** Replaces the script; later requests start again at index 0 of a list script. */
  setScript(script: Script): void
  /** Stops listening and drops open connections. */
  close(): Promise<void>
}

/** Token usage reported in every `response.completed` (Responses API `usage` object). */
export const SCRIPTED_USAGE = { input_tokens: 100, cached_input_tokens: 10, output_tokens: 20 }

/**
 * The output of the most recent `function_call_output` input item of a request, or null.
 * Codex 0.169.0 sends the tool's output as a string.
 */
export function lastToolOutput(request: ModelRequest): string | null {
  const outputs = (request.input ?? []).filter((item) => item.type === 'function_call_output')
  const last = outputs[outputs.length - 1]
  if (!last) return null
  return typeof last.output === 'string' ? last.output : JSON.stringify(last.output)
}

/**
 * A script for one agent turn: each command in `cmds` as a tool call, then `message`. The step is
 * chosen from the request itself (how many tool outputs it already carries since its last user
 * message), so several Codex processes can share one server, and a resumed thread starts over.
 */
export function toolsThenMessage(cmds: string[], message: string): Script {
  return (request) => {
    const input = request.input ?? []
    let lastUser = -1
    input.forEach((item, i) => {
      if (item.type === 'message' && item.role === 'user') lastUser = i
    })
    const done = input.slice(lastUser + 1).filter((item) => item.type === 'function_call_output').length
    return done < cmds.length ? { tool: 'exec_command', cmd: cmds[done] } : { message }
  }
}

function sse(res: http.ServerResponse, event: Record<string, unknown> & { type: string }): void {
  res.write(`event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`)
}

/**
 * Starts the server on 127.0.0.1 (random port). Requests other than `POST /v1/responses` get 404.
 * A list script that runs out answers 500, which makes Codex fail the turn visibly.
 */
export async function startModelServer(script: Script): Promise<ModelServer> {
  const requests: ModelRequest[] = []
  let current = script
  let index = 0
  let seq = 0
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      if (req.method !== 'POST' || !req.url?.startsWith('/v1/responses')) {
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"message":"not found"}}')
        return
      }
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ModelRequest
      requests.push(body)
      const i = index++
      const turn = typeof current === 'function' ? current(body, i) : current[i]
      if (!turn) {
        res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":{"message":"script exhausted"}}')
        return
      }
      const id = `resp_${++seq}`
      const item =
        'message' in turn
          ? { type: 'message', role: 'assistant', id: `msg_${seq}`, status: 'completed', content: [{ type: 'output_text', text: turn.message, annotations: [] }] }
          : { type: 'function_call', id: `fc_${seq}`, call_id: `call_${seq}`, name: 'exec_command', arguments: JSON.stringify({ cmd: turn.cmd }), status: 'completed' }
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
      sse(res, { type: 'response.created', response: { id, status: 'in_progress' } })
      sse(res, { type: 'response.output_item.done', output_index: 0, item })
      sse(res, {
        type: 'response.completed',
        response: {
          id,
          status: 'completed',
          usage: {
            input_tokens: SCRIPTED_USAGE.input_tokens,
            input_tokens_details: { cached_tokens: SCRIPTED_USAGE.cached_input_tokens },
            output_tokens: SCRIPTED_USAGE.output_tokens,
            output_tokens_details: { reasoning_tokens: 0 },
            total_tokens: SCRIPTED_USAGE.input_tokens + SCRIPTED_USAGE.output_tokens,
          },
        },
      })
      res.end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    setScript(next) {
      current = next
      index = 0
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
