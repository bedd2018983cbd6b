/**
 * Human-readable lines for a run's log events: Codex `exec --json` events (`thread.started`,
 * `item.*` with agent_message / reasoning / command_execution / file_change items, `turn.*`,
 * `error`), the runner's `runner.*` events and the scheduler's `dispatcher.run.finished`.
 */
type Ev = Record<string, any>

const indent = (text: string, prefix = '    ') => text.replace(/\n$/, '').split('\n').map((l) => prefix + l).join('\n')

/** One line (or block) describing an event, or null for events not worth showing. */
export function describeEvent(ev: Ev): string | null {
  const t = String(ev.type ?? '')
  const item = ev.item as Ev | undefined
  if (t === 'item.completed' && item) {
    switch (item.type) {
      case 'agent_message':
        return `agent: ${item.text}`
      case 'reasoning':
        return `thinking: ${item.text}`
      case 'command_execution': {
        const out = item.aggregated_output ? `\n${indent(String(item.aggregated_output))}` : ''
        return `$ ${item.command}  (exit ${item.exit_code ?? '?'})${out}`
      }
      case 'file_change':
        return `files: ${(item.changes ?? []).map((c: Ev) => `${c.kind} ${c.path}`).join(', ')}`
      default:
        return `${item.type}`
    }
  }
  if (t === 'item.started' && item?.type === 'command_execution') return `$ ${item.command}  (running)`
  if (t === 'thread.started') return `codex thread ${ev.thread_id}`
  if (t === 'turn.completed' && ev.usage) return `turn done: ${ev.usage.input_tokens} in / ${ev.usage.output_tokens} out tokens`
  if (t === 'turn.failed') return `turn failed: ${ev.error?.message ?? ''}`
  if (t === 'error' || t === 'runner.error') return `error: ${ev.message ?? JSON.stringify(ev)}`
  if (t === 'runner.command.started') return `$ ${ev.command}  (${ev.phase}-command)`
  if (t === 'runner.command.output') return `    ${ev.line}`
  if (t === 'runner.command.finished') return `  ${ev.phase}-command exited ${ev.exit_code}`
  if (t === 'runner.git.cloned') return `git: cloned ${ev.branch} from ${ev.base} at ${String(ev.commit).slice(0, 10)}`
  if (t === 'runner.git.pushed') return `git: pushed ${ev.branch} at ${String(ev.commit).slice(0, 10)}`
  if (t === 'runner.codex.exited') return `codex exited ${ev.exit_code}`
  if (t === 'dispatcher.run.finished') return `run ${ev.status}${ev.reason ? ` (${ev.reason})` : ''}${ev.message ? `: ${ev.message}` : ''}`
  return null
}

/** `12s`, `3m 04s`, `1h 02m`. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds))
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
}

/** Plain aligned table for terminals. */
export function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? []
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ')).join('\n')
}
