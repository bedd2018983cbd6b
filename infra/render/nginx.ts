/**
 * nginx site renderers. Templates live in `nginx/*.conf.template` and `nginx/snippets/`; directives
 * follow the nginx reference (ngx_http_core/proxy/ssl/auth_basic modules) and the distribution
 * registry's "Authenticate proxy with nginx" recipe. Each function returns the text of one site file
 * to place in an `http {}` context (Debian: /etc/nginx/sites-enabled/).
 */
import fs from 'node:fs'
import path from 'node:path'
import { fillTemplate, repoRoot } from './template.js'

/** Where the shared snippets are installed on the host (Debian's nginx layout). */
export const NGINX_SNIPPETS_DIR = '/etc/nginx/snippets'

/** Snippet files shared by the sites: file name → contents. Install them into the snippets dir. */
export function nginxSnippets(): Record<string, string> {
  const dir = path.join(repoRoot(), 'nginx', 'snippets')
  return Object.fromEntries(fs.readdirSync(dir).sort().map((f) => [f, fs.readFileSync(path.join(dir, f), 'utf8')]))
}

function template(name: string): string {
  return fs.readFileSync(path.join(repoRoot(), 'nginx', name), 'utf8')
}

/** `listen` directives: production listens on IPv4 and IPv6; tests pass one loopback address. */
function listenLines(listen: string[], params: string): string {
  return listen.map((l) => `listen ${l}${params ? ' ' + params : ''};`).join('\n    ')
}

/** Arguments shared by the HTTPS sites. */
export interface TlsSiteArgs {
  /** Host name, e.g. `api.example.com`. */
  serverName: string
  /** `listen` addresses; default `['443', '[::]:443']`. */
  listen?: string[]
  /** Certificate chain and key paths (certbot: /etc/letsencrypt/live/<name>/fullchain.pem, privkey.pem). */
  certPath: string
  keyPath: string
  /** `host:port` of the upstream on loopback. */
  upstream: string
  /** Directory holding the installed snippets; default {@link NGINX_SNIPPETS_DIR}. */
  snippetsDir?: string
}

/**
 * The plain-HTTP site: serves `/.well-known/acme-challenge/` from `acmeWebroot` (certbot's webroot
 * plugin, RFC 8555 §8.3 http-01) and redirects everything else to HTTPS with 301.
 *
 * @param args.serverNames names answered (api. and registry.).
 * @param args.listen `listen` addresses; default `['80', '[::]:80']`.
 * @param args.httpsPort port the redirect points at; default 443 (omitted from the URL).
 */
export function renderHttpSite(args: {
  serverNames: string[]
  acmeWebroot: string
  listen?: string[]
  httpsPort?: number
}): string {
  const httpsPort = args.httpsPort ?? 443
  return fillTemplate(
    template('http.conf.template'),
    {
      LISTEN: listenLines(args.listen ?? ['80', '[::]:80'], ''),
      SERVER_NAMES: args.serverNames.join(' '),
      ACME_WEBROOT: args.acmeWebroot,
      HTTPS_PORT_SUFFIX: httpsPort === 443 ? '' : `:${httpsPort}`,
    },
    'http.conf.template',
  )
}

/**
 * The API site: TLS, request ids passed to the control plane (`X-Request-Id`), SSE routes
 * (`/runs/:id/stream`) proxied unbuffered with a 1 h read timeout, other routes with 120 s.
 *
 * @param args.clientMaxBodySize nginx size string; default `16m` (the control plane applies its own limit).
 */
export function renderApiSite(args: TlsSiteArgs & { clientMaxBodySize?: string }): string {
  return fillTemplate(
    template('api.conf.template'),
    {
      LISTEN: listenLines(args.listen ?? ['443', '[::]:443'], 'ssl http2'),
      SERVER_NAME: args.serverName,
      CERT: args.certPath,
      CERT_KEY: args.keyPath,
      UPSTREAM: args.upstream,
      SNIPPETS_DIR: args.snippetsDir ?? NGINX_SNIPPETS_DIR,
      CLIENT_MAX_BODY_SIZE: args.clientMaxBodySize ?? '16m',
    },
    'api.conf.template',
  )
}

/**
 * The registry site: TLS, HTTP basic auth from an htpasswd file (bcrypt entries), unlimited and
 * unbuffered request bodies for chunked layer uploads, `Docker-Distribution-Api-Version` header.
 */
export function renderRegistrySite(args: TlsSiteArgs & { htpasswdFile: string }): string {
  return fillTemplate(
    template('registry.conf.template'),
    {
      LISTEN: listenLines(args.listen ?? ['443', '[::]:443'], 'ssl http2'),
      SERVER_NAME: args.serverName,
      CERT: args.certPath,
      CERT_KEY: args.keyPath,
      UPSTREAM: args.upstream,
      SNIPPETS_DIR: args.snippetsDir ?? NGINX_SNIPPETS_DIR,
      HTPASSWD_FILE: args.htpasswdFile,
    },
    'registry.conf.template',
  )
}
