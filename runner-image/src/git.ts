/**
 * Git steps of a run: clone or fetch, create/reset the run's branch, commit and push.
 * Credentials reach git only through GIT_ASKPASS (../git-askpass.sh reads GIT_TOKEN from the
 * environment); they never appear in a URL, argv or log line.
 */
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Children } from './children.js'
import type { RunGitSpec } from './contract.js'
import type { RunLog } from './log.js'

/**
 * The askpass script. The compiled runner lives at `<root>/dist/runner-image/src/*.js` both in the
 * repository and in the image, and the script at `<root>/runner-image/git-askpass.sh`.
 */
export const ASKPASS_PATH = fileURLToPath(new URL('../../../runner-image/git-askpass.sh', import.meta.url))

/** Fixed identity of the commits a run makes. */
export const COMMIT_AUTHOR = { name: 'codex-dispatcher', email: 'codex-dispatcher@localhost' }

/** Raised when a git command exits non-zero; the run fails with reason `git_failed`. */
export class GitError extends Error {}

/** Runs git commands for one run, logging each as `runner.git.command` / `runner.git.output`. */
export class Git {
  constructor(
    private readonly log: RunLog,
    private readonly children: Children,
    private readonly baseEnv: NodeJS.ProcessEnv,
    private readonly token: string | null,
  ) {}

  private env(): NodeJS.ProcessEnv {
    return {
      ...this.baseEnv,
      GIT_ASKPASS: ASKPASS_PATH,
      GIT_TERMINAL_PROMPT: '0',
      // The workspace is a bind mount that may belong to another uid than the runner's.
      GIT_CONFIG_COUNT: '1',
      GIT_CONFIG_KEY_0: 'safe.directory',
      GIT_CONFIG_VALUE_0: '*',
      ...(this.token ? { GIT_TOKEN: this.token } : {}),
    }
  }

  /** Runs `git args` in `cwd`; resolves with trimmed stdout; throws {@link GitError} on a non-zero exit. */
  async run(cwd: string, args: string[]): Promise<string> {
    const stdout: string[] = []
    this.log.event('git.command', { args, cwd })
    const { code } = await this.children.run('git', args, { cwd, env: this.env() }, (line) => {
      stdout.push(line)
      this.log.event('git.output', { stream: 'stdout', line })
    }, (line) => this.log.event('git.output', { stream: 'stderr', line }))
    if (code !== 0) throw new GitError(`git ${args[0]} exited with ${code}`)
    return stdout.join('\n').trim()
  }

  /**
   * Makes `cloneDir` a clone of `spec.repo` on branch `spec.branch`, created or reset from
   * `origin/<spec.base>`: clones when `cloneDir` is not a git repository yet, fetches otherwise
   * (pointing `origin` at `spec.repo`). Local changes and untracked files in the clone are discarded
   * (ignored files are kept). Returns the commit sha the branch starts at.
   */
  async prepare(spec: RunGitSpec, cloneDir: string): Promise<string> {
    if (fs.existsSync(path.join(cloneDir, '.git'))) {
      await this.run(cloneDir, ['remote', 'set-url', 'origin', spec.repo])
      await this.run(cloneDir, ['fetch', '--prune', 'origin'])
    } else {
      fs.mkdirSync(path.dirname(cloneDir), { recursive: true })
      await this.run(path.dirname(cloneDir), ['clone', '--no-checkout', spec.repo, cloneDir])
    }
    await this.run(cloneDir, ['checkout', '--force', '-B', spec.branch, `origin/${spec.base}`])
    await this.run(cloneDir, ['clean', '-fd'])
    return this.run(cloneDir, ['rev-parse', 'HEAD'])
  }

  /**
   * Commits every change in `cloneDir` (when there is any) as {@link COMMIT_AUTHOR} and pushes
   * `branch` to origin. The branch was reset from the base, so the push replaces the remote branch,
   * guarded by `--force-with-lease` against what this run fetched. Returns the pushed commit sha.
   */
  async commitAndPush(cloneDir: string, branch: string, message: string): Promise<string> {
    await this.run(cloneDir, ['add', '--all'])
    const status = await this.run(cloneDir, ['status', '--porcelain'])
    if (status !== '') {
      await this.run(cloneDir, [
        '-c', `user.name=${COMMIT_AUTHOR.name}`,
        '-c', `user.email=${COMMIT_AUTHOR.email}`,
        'commit', '--quiet', '--no-verify', '-m', message,
      ])
    }
    const sha = await this.run(cloneDir, ['rev-parse', 'HEAD'])
    await this.run(cloneDir, ['push', '--force-with-lease', 'origin', `HEAD:refs/heads/${branch}`])
    return sha
  }
}
