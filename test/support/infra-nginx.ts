/**
 * A real nginx for the live infrastructure tests: Debian's binary and Debian's own main
 * /etc/nginx/nginx.conf (workers as www-data, gzip on, …, as on the host), with only its pid, logs,
 * temp paths and `sites-enabled` include moved into a temp prefix. The project's snippets are
 * installed into the prefix the way Bootstrap installs them into /etc/nginx/snippets.
 */
import fs from 'node:fs'
import path from 'node:path'
import { nginxSnippets } from '../../infra/render/nginx.js'
import { run, startDaemon, tempDir, waitFor, waitForPort, type Daemon, type Owner, type RunResult } from './infra-procs.js'

const NGINX = '/usr/sbin/nginx'

/** A temp nginx prefix; see {@link nginxPrefix}. */
export interface NginxPrefix {
  dir: string
  /** Pass as `snippetsDir` to the site renderers. */
  snippetsDir: string
  /** Site files go here (the host's /etc/nginx/sites-enabled). */
  sitesDir: string
  confFile: string
  errorLog: string
  accessLog: string
  /** `nginx` arguments that select this prefix, config and error log. */
  args: string[]
}

/**
 * Creates the prefix: main config derived from Debian's, the project's snippets (from
 * `nginxSnippets()`), an empty sites dir. Removed at teardown.
 *
 * @throws when Debian's nginx.conf no longer has the lines that are moved.
 */
export function nginxPrefix(t: Owner): NginxPrefix {
  const dir = tempDir(t, 'infra-live-nginx-')
  const snippetsDir = path.join(dir, 'snippets')
  const sitesDir = path.join(dir, 'sites')
  const tempRoot = path.join(dir, 'temp')
  for (const d of [snippetsDir, sitesDir, tempRoot]) fs.mkdirSync(d, { mode: 0o755 })
  for (const [file, content] of Object.entries(nginxSnippets())) fs.writeFileSync(path.join(snippetsDir, file), content)
  const errorLog = path.join(dir, 'error.log')
  const accessLog = path.join(dir, 'access.log')
  const temps = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((k) => `${k}_temp_path ${tempRoot}/${k};`).join('\n\t')
  const moves: [RegExp, string][] = [
    [/^pid .*;$/m, `pid ${dir}/nginx.pid;`],
    // notice level: reloads ("reconfiguring") are logged, which the tests read.
    [/^error_log .*;$/m, `error_log ${errorLog} notice;`],
    [/^worker_processes .*;$/m, 'worker_processes 2;'],
    [/^\s*access_log \/var\/log\/nginx\/access\.log;$/m, `\taccess_log ${accessLog};`],
    [/^\s*include \/etc\/nginx\/sites-enabled\/\*;$/m, `\tinclude ${sitesDir}/*.conf;`],
    [/^http \{$/m, `http {\n\t${temps}`],
  ]
  let conf = fs.readFileSync('/etc/nginx/nginx.conf', 'utf8')
  for (const [re, replacement] of moves) {
    if (!re.test(conf)) throw new Error(`/etc/nginx/nginx.conf has no line matching ${re}`)
    conf = conf.replace(re, replacement)
  }
  const confFile = path.join(dir, 'nginx.conf')
  fs.writeFileSync(confFile, conf)
  return { dir, snippetsDir, sitesDir, confFile, errorLog, accessLog, args: ['-p', dir, '-c', confFile, '-e', errorLog] }
}

/** A running nginx; see {@link startNginx}. */
export interface Nginx {
  prefix: NginxPrefix
  daemon: Daemon
  /** `nginx -T`: tests the configuration and prints it with every include expanded. */
  dump(): Promise<RunResult>
  /**
   * `nginx -s reload` (SIGHUP to the master) and waits until the master logged that it
   * reconfigured; new connections then get the new configuration.
   */
  reload(): Promise<void>
  /** How many times the master has reloaded its configuration so far (from the error log). */
  reloads(): number
  /** Lines of the access log (combined format). */
  accessLines(): string[]
}

/**
 * Writes `sites` (file name → text) into the prefix's sites dir, checks the configuration with
 * `nginx -t`, runs nginx in the foreground (master + workers) and waits for every port in `ports`.
 * Stopped at teardown.
 *
 * @throws when `nginx -t` fails or a port does not open (the error log is in the message).
 */
export async function startNginx(t: Owner, prefix: NginxPrefix, sites: Record<string, string>, ports: number[]): Promise<Nginx> {
  for (const [file, text] of Object.entries(sites)) fs.writeFileSync(path.join(prefix.sitesDir, file), text)
  const check = await run(NGINX, ['-t', ...prefix.args])
  if (check.status !== 0) throw new Error(`nginx -t failed:\n${check.stderr}`)
  const daemon = await startDaemon(t, 'nginx', NGINX, [...prefix.args, '-g', 'daemon off;'], {
    logFile: path.join(prefix.dir, 'stderr.log'),
    otherLogs: [prefix.errorLog],
  })
  const errorLog = () => (fs.existsSync(prefix.errorLog) ? fs.readFileSync(prefix.errorLog, 'utf8') : '')
  for (const port of ports) await waitForPort(port, daemon)
  const reloads = () => errorLog().match(/reconfiguring/g)?.length ?? 0
  return {
    prefix,
    daemon,
    dump: () => run(NGINX, ['-T', ...prefix.args]),
    async reload() {
      const before = reloads()
      const r = await run(NGINX, [...prefix.args, '-s', 'reload'])
      if (r.status !== 0) throw new Error(`nginx -s reload failed:\n${r.stderr}`)
      await waitFor('nginx to reconfigure', () => reloads() > before, { daemon })
    },
    reloads,
    accessLines: () => (fs.existsSync(prefix.accessLog) ? fs.readFileSync(prefix.accessLog, 'utf8').split('\n').filter(Boolean) : []),
  }
}

/**
 * A directory of stand-ins for the host commands the project's scripts call, bound to this test's
 * nginx, for prepending to PATH: `nginx` (the real binary, with the test prefix and config) and
 * `systemctl reload nginx` (there is no systemd here; it does what Debian's nginx.service
 * ExecReload does, `nginx -s reload`). Every `systemctl` call is appended to `callsFile`; any
 * other `systemctl` command fails.
 */
export function hostCommandShims(t: Owner, prefix: NginxPrefix): { binDir: string; callsFile: string } {
  const binDir = tempDir(t, 'infra-live-bin-')
  const callsFile = path.join(binDir, 'systemctl.calls')
  const nginxArgs = prefix.args.map((a) => `'${a}'`).join(' ')
  fs.writeFileSync(path.join(binDir, 'nginx'), `#!/bin/sh\nexec ${NGINX} ${nginxArgs} "$@"\n`, { mode: 0o755 })
  fs.writeFileSync(
    path.join(binDir, 'systemctl'),
    `#!/bin/sh\necho "$*" >> '${callsFile}'\n` +
      `if [ "$*" = "reload nginx" ]; then exec ${NGINX} ${nginxArgs} -s reload; fi\n` +
      `echo "systemctl shim: unsupported: $*" >&2\nexit 1\n`,
    { mode: 0o755 },
  )
  return { binDir, callsFile }
}
