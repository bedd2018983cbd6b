/**
 * The data directory's layout on the host (SPEC section 4), and creation of a run's directories
 * owned by the unprivileged user runners execute as.
 *
 *   <dataDir>/runs/<run_id>/           bundle + run.log + result.json
 *   <dataDir>/codex_home/<state_key>/  Codex CODEX_HOME of a state
 *   <dataDir>/workdir/<state_key>/     work directory of a state
 *   <dataDir>/projects/<project_id>/   workspace of a project
 */
import fs from 'node:fs/promises'
import path from 'node:path'
import { BUNDLE_FILES } from '../../../runner-image/src/contract.js'

export class DataLayout {
  constructor(
    readonly dataDir: string,
    private readonly owner: { uid: number; gid: number },
  ) {}

  runDir(runId: string): string {
    return path.join(this.dataDir, 'runs', runId)
  }
  runLog(runId: string): string {
    return path.join(this.runDir(runId), BUNDLE_FILES.log)
  }
  runResult(runId: string): string {
    return path.join(this.runDir(runId), BUNDLE_FILES.result)
  }
  codexHome(stateKey: string): string {
    return path.join(this.dataDir, 'codex_home', stateKey)
  }
  stateWorkdir(stateKey: string): string {
    return path.join(this.dataDir, 'workdir', stateKey)
  }
  projectWorkspace(projectId: string): string {
    return path.join(this.dataDir, 'projects', projectId)
  }

  /**
   * Creates directories (recursively) and, when we run as root, hands them to the runner user so an
   * unprivileged container can write them. Existing directories keep their contents.
   */
  async ensureOwnedDirs(...dirs: string[]): Promise<void> {
    for (const dir of dirs) {
      await fs.mkdir(dir, { recursive: true })
      if (process.getuid?.() === 0) await fs.chown(dir, this.owner.uid, this.owner.gid)
    }
  }

  /** Writes a file the runner may read, owned by the runner user when we are root. */
  async writeOwnedFile(file: string, contents: string, mode = 0o644): Promise<void> {
    await fs.writeFile(file, contents, { mode })
    if (process.getuid?.() === 0) await fs.chown(file, this.owner.uid, this.owner.gid)
  }
}
