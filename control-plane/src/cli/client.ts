/**
 * HTTP client of the control plane's API (SPEC section 2) for the CLI and the tests: JSON calls
 * with the token, and a Server-Sent Events follower of `GET /runs/:id/stream` that resumes with
 * `Last-Event-ID` after a dropped connection (SSE: https://html.spec.whatwg.org/multipage/server-sent-events.html).
 */
import { createParser, type EventSourceMessage } from 'eventsource-parser'

/** An error answer of the API (`{"error": {code, message, details}}`), or a transport failure (status 0). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message)
    this.name = 'ApiError'
  }
}

/** One message of a run stream: `log` (a plain line), `event` (a JSON line) or `end`. */
export interface StreamMessage {
  event: 'log' | 'event' | 'end'
  /** Byte offset of the log after this message (the SSE id). */
  id: number
  data: string
}

export class ApiClient {
  constructor(
    readonly url: string,
    private readonly token: string | undefined,
  ) {}

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...(this.token ? { 'X-Dispatch-Token': this.token } : {}), ...extra }
  }

  /**
   * Sends one request; JSON bodies in and out.
   * @throws ApiError with the server's error code for non-2xx answers, status 0 when unreachable.
   */
  async request<T = any>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
    let res: Response
    try {
      res = await fetch(this.url + path, {
        method,
        headers: this.headers({ Accept: 'application/json', ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...headers }),
        body: body !== undefined ? JSON.stringify(body) : undefined,
      })
    } catch (err) {
      throw new ApiError(0, 'unreachable', `cannot reach ${this.url}: ${(err as Error).cause ?? (err as Error).message}`)
    }
    const text = await res.text()
    let parsed: any = text
    try {
      parsed = text ? JSON.parse(text) : null
    } catch {
      // a text answer (metrics)
    }
    if (!res.ok) {
      const e = parsed?.error
      throw new ApiError(res.status, e?.code ?? 'http_error', e?.message ?? `HTTP ${res.status}`, e?.details)
    }
    return parsed as T
  }

  /**
   * Follows a run's stream from byte offset `from` until its `end` message, reconnecting with
   * `Last-Event-ID` when the connection drops, so no line is lost or repeated.
   * @param retryMs pause before a reconnect, ms.
   * @throws ApiError for an unknown run or a rejected token.
   */
  async *stream(runId: string, opts: { from?: number; signal?: AbortSignal; retryMs?: number } = {}): AsyncGenerator<StreamMessage> {
    let last = opts.from ?? 0
    for (;;) {
      let res: Response | null = null
      try {
        res = await fetch(`${this.url}/runs/${encodeURIComponent(runId)}/stream`, {
          headers: this.headers({ Accept: 'text/event-stream', 'Last-Event-ID': String(last) }),
          signal: opts.signal,
        })
      } catch (err) {
        if (opts.signal?.aborted) return
        res = null
        void err
      }
      if (res && !res.ok) {
        const body = (await res.json().catch(() => null)) as { error?: { code: string; message: string } } | null
        throw new ApiError(res.status, body?.error?.code ?? 'http_error', body?.error?.message ?? `HTTP ${res.status}`)
      }
      if (res?.body) {
        const queue: EventSourceMessage[] = []
        const parser = createParser({ onEvent: (m) => queue.push(m) })
        const decoder = new TextDecoder()
        try {
          for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
            parser.feed(decoder.decode(chunk, { stream: true }))
            while (queue.length) {
              const m = queue.shift()!
              const id = Number(m.id)
              if (Number.isSafeInteger(id)) last = id
              const event = (m.event ?? 'message') as StreamMessage['event']
              yield { event, id: last, data: m.data }
              if (event === 'end') return
            }
          }
        } catch (err) {
          if (opts.signal?.aborted) return
          void err // a dropped connection: resume below
        }
      }
      if (opts.signal?.aborted) return
      await new Promise((r) => setTimeout(r, opts.retryMs ?? 1000))
    }
  }
}
