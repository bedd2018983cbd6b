/**
 * The server's cloud-init user-data (#cloud-config; modules per the cloud-init docs: packages,
 * write_files, runcmd). It only installs and prepares; everything that depends on later resources
 * (volume, certificates, .env, images) is done by the Bootstrap component over SSH, because the
 * server ignores later changes to its user-data.
 */
import { stringify } from 'yaml'
import { renderRegistryConfig } from './registry.js'
import { renderReloadNginxHook } from './scripts.js'

/** Packages cloud-init installs (Debian 12 / Ubuntu names). */
export const HOST_PACKAGES = ['docker.io', 'nginx', 'certbot', 'docker-registry', 'apache2-utils', 'ca-certificates'] as const

/**
 * @param a.acmeWebroot webroot for ACME challenges (created empty).
 * @param a.registryAddr / a.registryDir the registry's loopback listen address and storage.
 * @returns user-data text starting with `#cloud-config`.
 */
export function renderCloudInit(a: { acmeWebroot: string; registryAddr: string; registryDir: string }): string {
  const doc = {
    package_update: true,
    package_upgrade: true,
    packages: [...HOST_PACKAGES],
    ssh_pwauth: false,
    write_files: [
      {
        path: '/etc/docker/daemon.json',
        permissions: '0644',
        content: JSON.stringify({ 'log-driver': 'local', 'log-opts': { 'max-size': '20m', 'max-file': '5' } }, null, 2) + '\n',
      },
      {
        // Written before the package is installed so the registry never listens beyond loopback;
        // cloud-init installs packages with --force-confold, keeping this file.
        path: '/etc/docker/registry/config.yml',
        permissions: '0644',
        content: renderRegistryConfig({ addr: a.registryAddr, rootDirectory: a.registryDir }),
      },
      {
        path: '/etc/letsencrypt/renewal-hooks/deploy/reload-nginx',
        permissions: '0755',
        content: renderReloadNginxHook(),
      },
    ],
    runcmd: [
      ['systemctl', 'enable', '--now', 'docker'],
      ['systemctl', 'enable', 'docker-registry'],
      ['systemctl', 'restart', 'docker-registry'],
      ['rm', '-f', '/etc/nginx/sites-enabled/default'],
      ['mkdir', '-p', a.acmeWebroot],
      ['systemctl', 'reload-or-restart', 'nginx'],
    ],
  }
  return '#cloud-config\n' + stringify(doc, { lineWidth: 0, blockQuote: 'literal' })
}
