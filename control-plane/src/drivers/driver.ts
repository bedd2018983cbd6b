/**
 * What the scheduler needs from a runner backend. A driver talks to the outside world (the Docker
 * Engine API, or child processes) and knows nothing of HTTP or the database.
 */

/** Everything needed to start one runner. Paths are host paths. */
export interface RunnerSpec {
  runId: string
  bundleDir: string
  codexHome: string
  workspace: string
  /** Environment for the runner, secrets included (never put on a command line). */
  env: Record<string, string>
}

/** What a driver knows of a run's runner. */
export type RunnerState =
  | { state: 'running'; runnerId: string }
  | { state: 'exited'; runnerId: string; exitCode: number }
  | { state: 'missing' }

export interface RunnerDriver {
  /** `docker` or `process`. */
  readonly name: 'docker' | 'process'
  /** Resolves when the backend answers; throws with the reason otherwise (readiness). */
  ping(): Promise<void>
  /**
   * Creates and starts the runner of a run. Starting a run whose runner already exists throws,
   * so one run can never be executed twice.
   * @returns the runner id (container id, or `pid:<n>`).
   */
  start(spec: RunnerSpec): Promise<string>
  /** Looks up a run's runner (used to reconcile after a restart). */
  inspect(runId: string): Promise<RunnerState>
  /** Resolves with the exit code once the runner has exited (immediately if it already has). */
  wait(runId: string): Promise<number>
  /** Asks the runner to stop (SIGTERM, then SIGKILL after `graceS` seconds). Missing is fine. */
  stop(runId: string, graceS: number): Promise<void>
  /** Removes an exited runner's resources (the container). Missing is fine. */
  remove(runId: string): Promise<void>
  /** Releases connections and child processes the driver owns. */
  close(): Promise<void>
}
