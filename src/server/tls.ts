import {readFileSync} from 'node:fs'
import {createServer as createHttpServer, type RequestListener, type Server} from 'node:http'
import {createServer as createHttpsServer} from 'node:https'

// HTTPS and WSS on the node's one port when a certificate and key are configured; plain HTTP otherwise
// (TLS terminated at a load balancer: docs/security.md).

export interface TlsFiles {
  /** Path of the PEM certificate chain (leaf first). */
  cert: string
  /** Path of the PEM private key. */
  key: string
}

/** Reads the certificate and key; one that cannot be read, or is not PEM, fails with a message naming its flag. */
export function readTlsFiles(tls: TlsFiles): {cert: Buffer; key: Buffer} {
  return {cert: readPem(tls.cert, '--tls-cert (MSGR_TLS_CERT)'), key: readPem(tls.key, '--tls-key (MSGR_TLS_KEY)')}
}

/** The node's HTTP(S) server: HTTPS (and so WSS) when `tls` is given. */
export function createNodeServer(tls: TlsFiles | undefined, listener: RequestListener): Server {
  if (!tls) return createHttpServer(listener)
  const {cert, key} = readTlsFiles(tls)
  try {
    return createHttpsServer({cert, key}, listener) as unknown as Server
  } catch (error) {
    throw new Error(`the TLS certificate and key do not make a valid pair (${(error as Error).message}); check --tls-cert and --tls-key`, {cause: error})
  }
}

/** "https"/"wss" when the node serves TLS itself. */
export function schemes(tls: boolean): {http: 'http' | 'https'; ws: 'ws' | 'wss'} {
  return tls ? {http: 'https', ws: 'wss'} : {http: 'http', ws: 'ws'}
}

function readPem(path: string, flag: string): Buffer {
  let pem: Buffer
  try {
    pem = readFileSync(path)
  } catch (error) {
    throw new Error(`cannot read ${flag} ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, {cause: error})
  }
  if (!pem.includes('-----BEGIN ')) throw new Error(`${flag} ${path} is not a PEM file`)
  return pem
}
