/**
 * The run log: `<bundle>/run.log`, one JSON object a line. The runner's own events are typed
 * `runner.*` and carry an ISO-8601 `ts`; Codex's `--json` stdout lines are appended unchanged.
 */
import fs from 'node:fs'
import { RUNNER_EVENT_PREFIX } from './contract.js'

/** Append-only writer of run.log. Writes are synchronous so lines keep their order and survive a crash. */
export class RunLog {
  private readonly fd: number
  private readonly secrets: string[]

  /**
   * Opens (creates or appends to) the log at `file`. Every occurrence of a value in `secrets`
   * is replaced by `***` before a line is written: git and user commands may echo a URL or
   * variable that carries one, and the log is served to API clients.
   */
  constructor(file: string, secrets: string[]) {
    this.fd = fs.openSync(file, 'a')
    this.secrets = secrets.filter((s) => s.length >= 4)
  }

  /** Writes `{"type": "runner.<name>", "ts": <ISO time>, ...fields}`. */
  event(name: string, fields: Record<string, unknown> = {}): void {
    this.line(JSON.stringify({ type: `${RUNNER_EVENT_PREFIX}${name}`, ts: new Date().toISOString(), ...fields }))
  }

  /** Writes one line as given (a Codex JSONL event); a trailing newline is added. */
  line(text: string): void {
    fs.writeSync(this.fd, `${this.redact(text)}\n`)
  }

  /** `text` with every secret value replaced by `***`. */
  redact(text: string): string {
    let out = text
    for (const secret of this.secrets) out = out.split(secret).join('***')
    return out
  }
}
