/**
 * A local ACME CA for the live infrastructure tests: Let's Encrypt's `pebble` (RFC 8555 test
 * server, Debian package `pebble`) with `pebble-challtestsrv` as its DNS server answering
 * 127.0.0.1 for every name, so http-01 validation of any host name reaches a server on loopback.
 */
import fs from 'node:fs'
import path from 'node:path'
import { freePort, request, selfSignedCert, startDaemon, tempDir, waitFor, waitForPort, type Owner } from './infra-procs.js'

/** A running pebble; see {@link startPebble}. */
export interface Pebble {
  /** ACME directory URL, e.g. `https://127.0.0.1:PORT/dir` (certbot's `--server`). */
  directoryUrl: string
  /** PEM file of the ACME listener's own certificate (certbot's `REQUESTS_CA_BUNDLE`). */
  listenerCaFile: string
  /** Root and intermediate of the CA that signs issued certificates (new on every start). */
  issuerRoot(): Promise<string>
  issuerIntermediate(): Promise<string>
}

/**
 * Starts pebble-challtestsrv (mock DNS only, A → 127.0.0.1, no AAAA) and pebble validating http-01
 * challenges on `httpPort` of whatever the names resolve to. Validation is immediate
 * (`PEBBLE_VA_NOSLEEP`) and no valid nonce is rejected (`PEBBLE_WFE_NONCEREJECT=0`). Both are
 * stopped at teardown.
 *
 * @throws when either does not start listening within 20 s (its log is in the message).
 */
export async function startPebble(t: Owner, opts: { httpPort: number }): Promise<Pebble> {
  const dir = tempDir(t, 'infra-live-pebble-')
  const [dnsPort, challMgmtPort, acmePort, mgmtPort, tlsPort] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()])
  const dns = await startDaemon(
    t,
    'pebble-challtestsrv',
    'pebble-challtestsrv',
    ['-dns01', `127.0.0.1:${dnsPort}`, '-management', `127.0.0.1:${challMgmtPort}`, '-http01', '', '-https01', '', '-tlsalpn01', '', '-defaultIPv4', '127.0.0.1', '-defaultIPv6', ''],
    { logFile: path.join(dir, 'challtestsrv.log') },
  )
  await waitForPort(challMgmtPort, dns)

  const listener = await selfSignedCert(dir, ['localhost'])
  const config = path.join(dir, 'pebble-config.json')
  fs.writeFileSync(
    config,
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${acmePort}`,
        managementListenAddress: `127.0.0.1:${mgmtPort}`,
        certificate: listener.certPath,
        privateKey: listener.keyPath,
        httpPort: opts.httpPort,
        tlsPort,
        ocspResponderURL: '',
        externalAccountBindingRequired: false,
      },
    }),
  )
  const pebble = await startDaemon(t, 'pebble', 'pebble', ['-config', config, '-dnsserver', `127.0.0.1:${dnsPort}`], {
    env: { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0' },
    logFile: path.join(dir, 'pebble.log'),
  })
  await waitForPort(acmePort, pebble)
  const directoryUrl = `https://127.0.0.1:${acmePort}/dir`
  await waitFor('the ACME directory', async () => (await request(directoryUrl, { ca: listener.pem })).status === 200, { daemon: pebble })

  const management = async (p: string) => {
    const res = await request(`https://127.0.0.1:${mgmtPort}${p}`, { ca: listener.pem })
    if (res.status !== 200) throw new Error(`pebble management ${p}: ${res.status} ${res.body}`)
    return res.body
  }
  return {
    directoryUrl,
    listenerCaFile: listener.certPath,
    issuerRoot: () => management('/roots/0'),
    issuerIntermediate: () => management('/intermediates/0'),
  }
}
