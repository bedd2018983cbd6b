/**
 * Entry point: read the configuration, start the service, say where everything is, and stop
 * cleanly on SIGINT/SIGTERM. Everything else lives in runtime.ts.
 */
import { pino } from 'pino'
import { ConfigError, loadConfig } from './config.js'
import { startService } from './runtime.js'
import { LOG_REDACT_PATHS } from './http/logging.js'


async function main(): Promise<void> {
  let config
  try {
    config = loadConfig()
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message)
      process.exit(2)
    }
    throw err
  }
  const log = pino({ level: config.logLevel, redact: LOG_REDACT_PATHS })
  const service = await startService(config, log)
  console.log(`codex-dispatcher control plane listening on ${service.url}`)
  console.log(`  token:    ${service.tokenSource === 'DISPATCH_TOKEN' ? 'from DISPATCH_TOKEN' : `kept in ${service.tokenSource} (send it as X-Dispatch-Token)`}`)
  console.log(`  data dir: ${config.dataDir}`)
  console.log(`  database: ${service.databaseDescription}`)
  console.log(`  runners:  ${service.backendDescription}, concurrency ${config.runnerConcurrency}`)

  let stopping = false
  const shutdown = (signal: string) => {
    if (stopping) return
    stopping = true
    log.info({ signal }, 'stopping')
    service.stop().then(
      () => process.exit(0),
      (err) => {
        log.error({ err }, 'stop failed')
        process.exit(1)
      },
    )
  }
  process.on('SIGINT', () => shutdown('SIGINT'))
  process.on('SIGTERM', () => shutdown('SIGTERM'))
}

main().catch((err) => {
  console.error(`codex-dispatcher failed to start: ${(err as Error).stack ?? err}`)
  process.exit(1)
})
