/**
 * Every shell script the Pulumi program runs, locally or on the host over SSH. Pure functions of
 * their arguments so tests can shellcheck them and run them for real. All are bash with
 * `set -euo pipefail`; secrets only ever arrive on stdin, never in the script text or argv.
 */
import { shq } from './template.js'

const HEAD = '#!/usr/bin/env bash\nset -euo pipefail\n'

/**
 * Local: waits until a TCP connection to `$HOST:$PORT` succeeds (the new server's sshd), retrying
 * every 2 s, so the SSH commands that follow do not fail on their first dial.
 * Reads HOST, PORT and TIMEOUT_S (default 600) from the environment; exits 1 on timeout.
 */
export function renderWaitForPortScript(): string {
  return `${HEAD}: "\${HOST:?HOST is required}" "\${PORT:?PORT is required}"
deadline=$(( $(date +%s) + \${TIMEOUT_S:-600} ))
until (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null; do
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "no TCP answer from $HOST:$PORT within \${TIMEOUT_S:-600} s" >&2
    exit 1
  fi
  sleep 2
done
echo "$HOST:$PORT answers"
`
}

/**
 * Remote: waits for cloud-init to finish, then checks that what it installed is there and that the
 * Docker daemon answers. Exit status 1 names the missing piece. `cloud-init status --wait` exits 2
 * for "done with recoverable errors" (cloud-init ≥ 23.4), which is accepted when the tools exist.
 */
export function renderWaitForCloudInitScript(): string {
  return `${HEAD}status=0
cloud-init status --wait >/dev/null || status=$?
if [ "$status" -ne 0 ] && [ "$status" -ne 2 ]; then
  echo "cloud-init failed (status $status):" >&2
  cloud-init status --long >&2 || true
  exit 1
fi
for tool in docker nginx certbot htpasswd docker-registry; do
  command -v "$tool" >/dev/null || { echo "cloud-init did not install $tool" >&2; exit 1; }
done
for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then
    echo "cloud-init done; docker answers"
    exit 0
  fi
  sleep 2
done
echo "the Docker daemon does not answer" >&2
exit 1
`
}

/** Arguments of {@link renderMountVolumeScript}. */
export interface MountVolumeArgs {
  /** Block device of the volume, e.g. Hetzner's `/dev/disk/by-id/scsi-0HC_Volume_<id>`. */
  device: string
  /** Where to mount it (created when missing). */
  mountPoint: string
  /** Directories to create on the volume, with owner `uid:gid` and octal mode. */
  dirs: { path: string; owner: string; mode: string }[]
}

/**
 * Remote: waits for the attached volume's device, makes an ext4 file system only when the device has
 * none (never reformats data), mounts it by UUID through /etc/fstab (`nofail`, so a missing volume
 * does not stop the boot), and creates the data directories. Idempotent.
 */
export function renderMountVolumeScript(a: MountVolumeArgs): string {
  const dirs = a.dirs.map((d) => `install -d -o ${shq(d.owner.split(':')[0]!)} -g ${shq(d.owner.split(':')[1]!)} -m ${shq(d.mode)} ${shq(d.path)}`)
  return `${HEAD}device=${shq(a.device)}
mount_point=${shq(a.mountPoint)}
for _ in $(seq 1 60); do
  [ -b "$device" ] && break
  sleep 2
done
[ -b "$device" ] || { echo "volume device $device did not appear" >&2; exit 1; }
if ! blkid "$device" >/dev/null 2>&1; then
  mkfs.ext4 -q -L codex-data "$device"
fi
uuid=$(blkid -s UUID -o value "$device")
mkdir -p "$mount_point"
if ! grep -q "^UUID=$uuid " /etc/fstab; then
  echo "UUID=$uuid $mount_point ext4 defaults,nofail,discard 0 2" >> /etc/fstab
fi
if ! mountpoint -q "$mount_point"; then
  mount "$mount_point"
fi
${dirs.join('\n')}
`
}

/** A file for {@link renderInstallFilesScript}: absolute path, octal mode and (non-secret) contents. */
export interface HostFile {
  path: string
  mode: string
  content: string
}

/**
 * Remote: writes each file atomically (temp file + rename) from a quoted heredoc, then runs `after`
 * (a shell command, e.g. `nginx -t && systemctl reload nginx`). Only for non-secret files: the
 * contents are part of the command text.
 *
 * @throws Error when a file's contents contain the heredoc delimiter line.
 */
export function renderInstallFilesScript(files: HostFile[], after = ''): string {
  const delimiter = 'CODEX_DISPATCHER_EOF'
  const parts = files.map((f) => {
    if (f.content.split('\n').includes(delimiter)) throw new Error(`${f.path} contains the line ${delimiter}`)
    const body = f.content.endsWith('\n') ? f.content : f.content + '\n'
    return `install_file ${shq(f.path)} ${shq(f.mode)} <<'${delimiter}'\n${body}${delimiter}`
  })
  return `${HEAD}install_file() {
  mkdir -p "$(dirname "$1")"
  tmp=$(mktemp "$1.XXXXXX")
  cat > "$tmp"
  chmod "$2" "$tmp"
  mv -f "$tmp" "$1"
}
${parts.join('\n')}
${after}
`
}

/**
 * Remote: writes stdin to `path` with `mode` (e.g. `600`) atomically; the file never exists with a
 * wider mode (umask 077 before creation). Used for secrets: the contents come on stdin only.
 */
export function renderWriteStdinScript(path: string, mode: string, after = ''): string {
  return `${HEAD}umask 077
target=${shq(path)}
mkdir -p "$(dirname "$target")"
tmp=$(mktemp "$target.XXXXXX")
cat > "$tmp"
chmod ${shq(mode)} "$tmp"
mv -f "$tmp" "$target"
${after}
`
}

/** Arguments of {@link renderIssueCertificatesScript}. */
export interface IssueCertificatesArgs {
  email: string
  /** Directory nginx serves `/.well-known/acme-challenge/` from. */
  webroot: string
  /** One certificate per name, named after it (/etc/letsencrypt/live/<name>/). */
  domains: string[]
}

/**
 * Remote: obtains (or keeps, while not due for renewal) one certificate per domain with certbot's
 * webroot plugin (ACME http-01, RFC 8555). Extra certbot arguments are taken from the script's own
 * arguments (tests pass `--server`, `--config-dir`, … for a local pebble). Renewal runs from
 * certbot's timer and reloads nginx through the deploy hook ({@link renderReloadNginxHook}).
 */
export function renderIssueCertificatesScript(a: IssueCertificatesArgs): string {
  return `${HEAD}email=${shq(a.email)}
webroot=${shq(a.webroot)}
mkdir -p "$webroot/.well-known/acme-challenge"
for domain in ${a.domains.map(shq).join(' ')}; do
  certbot certonly --non-interactive --agree-tos --email "$email" \\
    --webroot --webroot-path "$webroot" \\
    --cert-name "$domain" --domain "$domain" --keep-until-expiring "$@"
done
`
}

/** certbot deploy hook (/etc/letsencrypt/renewal-hooks/deploy/): reload nginx after a renewal. */
export function renderReloadNginxHook(): string {
  return `${HEAD}# certbot runs this after each successful renewal (RENEWED_LINEAGE is the renewed cert).
nginx -t -q
systemctl reload nginx
`
}

/**
 * Remote: creates or replaces the registry's htpasswd file with one bcrypt entry for `user`; the
 * password comes on stdin (`htpasswd -i`). The file is readable by nginx's group (www-data) only.
 */
export function renderHtpasswdScript(file: string, user: string): string {
  return `${HEAD}umask 027
target=${shq(file)}
tmp=$(mktemp "$target.XXXXXX")
htpasswd -iBc "$tmp" ${shq(user)} 2>/dev/null
chgrp www-data "$tmp"
chmod 640 "$tmp"
mv -f "$tmp" "$target"
`
}

/** Remote: prints the numeric group id owning the Docker socket (the control plane joins that group). */
export function renderDockerGidScript(socket = '/var/run/docker.sock'): string {
  return `${HEAD}stat -c %g ${shq(socket)}
`
}
