/**
 * Configuration of the distribution registry (Debian package `docker-registry`, registry 2.x;
 * format: https://distribution.github.io/distribution/about/configuration/). It listens on loopback
 * only; nginx adds TLS and htpasswd auth in front of it.
 */
import { stringify } from 'yaml'

/**
 * @param a.addr `host:port` to listen on, e.g. `127.0.0.1:5000`.
 * @param a.rootDirectory where blobs and manifests are stored (on the volume in production).
 * @returns the YAML text of /etc/docker/registry/config.yml.
 */
export function renderRegistryConfig(a: { addr: string; rootDirectory: string }): string {
  return stringify({
    version: 0.1,
    log: { level: 'info', fields: { service: 'registry' } },
    storage: {
      filesystem: { rootdirectory: a.rootDirectory },
      delete: { enabled: true },
      cache: { blobdescriptor: 'inmemory' },
    },
    http: { addr: a.addr, headers: { 'X-Content-Type-Options': ['nosniff'] } },
    health: { storagedriver: { enabled: true, interval: '10s', threshold: 3 } },
  })
}
