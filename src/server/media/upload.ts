import {createHash, randomBytes} from 'node:crypto'
import {mkdir, open, rm} from 'node:fs/promises'
import type {IncomingMessage} from 'node:http'
import {join} from 'node:path'

import {createSniffer, type MediaType} from '../../core/media/sniff.js'
import {MsgrError} from '../../errors.js'

// Receives one upload body: counted against the limit, hashed and sniffed as it streams, staged in a
// spool file so memory stays flat whatever the size.

export interface ReceivedUpload {
  /** The staged bytes; remove them with `discard` once stored. */
  file: string
  size: number
  /** sha256 hex of the bytes: the media id. */
  id: string
  /** What the bytes are, or undefined when they are none of the stored types. */
  sniffed: MediaType | undefined
  discard(): Promise<void>
}

export interface UploadLimits {
  maxBytes: number
  spoolDir: string
}

/**
 * Reads the whole body into a spool file. Throws too_large as soon as the declared or the received size
 * passes the limit; the rest of the body is then left unread (the caller answers with `connection: close`).
 */
export async function receiveUpload(req: IncomingMessage, limits: UploadLimits): Promise<ReceivedUpload> {
  const declared = req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length'])
  if (declared !== undefined && declared > limits.maxBytes) throw tooLarge(limits.maxBytes)
  await mkdir(limits.spoolDir, {recursive: true})
  const file = join(limits.spoolDir, `msgr-upload-${randomBytes(8).toString('hex')}`)
  const discard = () => rm(file, {force: true})
  const hash = createHash('sha256')
  const sniffer = createSniffer()
  let size = 0
  const handle = await open(file, 'wx', 0o600)
  try {
    // Not `for await`: leaving that loop early destroys the socket before the 413 can be written.
    await new Promise<void>((resolve, reject) => {
      let writing = Promise.resolve()
      const stop = (error?: Error) => {
        req.off('data', onData).off('end', onEnd).off('error', onError).off('aborted', onAborted)
        req.on('error', () => {}) // a late error of a body we stopped reading is of no interest
        if (error) {
          req.pause()
          reject(error)
        } else {
          resolve()
        }
      }
      const onData = (chunk: Buffer) => {
        size += chunk.length
        if (size > limits.maxBytes) return stop(tooLarge(limits.maxBytes))
        hash.update(chunk)
        sniffer.push(chunk)
        // One write at a time: the socket waits while the disk catches up.
        req.pause()
        writing = handle.write(chunk).then(() => void req.resume(), stop)
      }
      // 'end' can come while the last chunk is still being written.
      const onEnd = () => void writing.then(() => stop())
      // The client went away mid-body (the socket's error or the request's 'aborted', whichever comes first).
      const onAborted = () => stop(new MsgrError('invalid_request', 'the upload was cut off before its end'))
      const onError = onAborted
      req.on('data', onData).on('end', onEnd).on('error', onError).on('aborted', onAborted)
    })
  } catch (error) {
    await handle.close().catch(() => {})
    await discard()
    throw error
  }
  await handle.close()
  if (size === 0) {
    await discard()
    throw new MsgrError('invalid_request', 'the upload is empty')
  }
  return {file, size, id: hash.digest('hex'), sniffed: sniffer.finish(), discard}
}

function tooLarge(maxBytes: number): MsgrError {
  return new MsgrError('too_large', `media is limited to ${maxBytes} bytes`, {maxBytes})
}
