/**
 * Entry point of the job runner (`node dist/runner-image/src/main.js`), in the runner container
 * or as a child process of the control plane's `process` backend.
 *
 * Environment: RUNNER_BUNDLE_DIR, RUNNER_CODEX_HOME, RUNNER_WORKSPACE (paths), optional
 * RUNNER_CODEX_BIN, GIT_TOKEN, OPENAI_API_KEY, CODEX_API_KEY. Writes `<bundle>/run.log` and
 * `<bundle>/result.json`. Exit code: 0 when the run succeeded, 1 otherwise (also on SIGTERM/SIGINT,
 * after writing a `canceled` result), 2 when not even result.json could be written.
 */
import { readSettings } from './bundle.js'
import { Runner, writableHome } from './runner.js'

/** After SIGTERM/SIGINT the steps get this long to wind down before a `canceled` result is forced (ms). */
const CANCEL_DEADLINE_MS = 6000

async function main(): Promise<number> {
  const settings = readSettings(process.env)
  const env = { ...process.env, HOME: writableHome(process.env.HOME) }
  const runner = new Runner(settings, env)
  const onSignal = (signal: NodeJS.Signals): void => {
    runner.cancel(signal)
    setTimeout(() => {
      runner.abandon()
      process.exit(1)
    }, CANCEL_DEADLINE_MS).unref()
  }
  process.on('SIGTERM', onSignal)
  process.on('SIGINT', onSignal)
  const result = await runner.run()
  return result.status === 'succeeded' ? 0 : 1
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`runner: ${err instanceof Error ? err.message : String(err)}`)
    process.exit(2)
  },
)
