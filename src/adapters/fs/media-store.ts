import {randomBytes} from 'node:crypto'
import {createReadStream} from 'node:fs'
import {mkdir, open, rename, rm, stat} from 'node:fs/promises'
import {dirname, join} from 'node:path'

import {isMediaId, type MediaObject, type MediaStore} from '../../core/media/media-store.js'

// Media on a local (or shared network) filesystem, content-addressed as <dir>/ab/cd/<sha256>. Writes go
// to <dir>/tmp first, are fsynced and renamed into place, so a reader never sees half an object.

export interface FsMediaStoreOptions {
  dir: string
}

export async function createFsMediaStore(options: FsMediaStoreOptions): Promise<MediaStore> {
  const {dir} = options
  const tmp = join(dir, 'tmp')
  await mkdir(tmp, {recursive: true})
  const pathOf = (id: string) => {
    if (!isMediaId(id)) throw new Error(`not a media id: ${id}`)
    return join(dir, id.slice(0, 2), id.slice(2, 4), id)
  }
  const sizeOf = async (id: string): Promise<number | undefined> => {
    try {
      return (await stat(pathOf(id))).size
    } catch (error) {
      if (isNotFound(error)) return undefined
      throw error
    }
  }

  return {
    kind: 'fs',
    async put(id, source, info) {
      const target = pathOf(id)
      if ((await sizeOf(id)) === info.size) return
      // A staged file on the same filesystem is renamed into place: the bytes are not written twice.
      if (!(source instanceof Uint8Array) && (await moveInto(source.path, target, info.size))) return
      const temp = join(tmp, `${id}.${randomBytes(6).toString('hex')}`)
      try {
        const file = await open(temp, 'wx', 0o640)
        try {
          if (source instanceof Uint8Array) {
            await file.write(source)
          } else {
            for await (const chunk of createReadStream(source.path)) await file.write(chunk as Buffer)
          }
          await file.sync()
        } finally {
          await file.close()
        }
        const written = (await stat(temp)).size
        if (written !== info.size) throw new Error(`media ${id}: wrote ${written} bytes, expected ${info.size}`)
        await mkdir(dirname(target), {recursive: true})
        // Concurrent puts of one id write the same bytes: whichever rename lands last wins, harmlessly.
        await rename(temp, target)
        await syncDir(dirname(target))
      } finally {
        await rm(temp, {force: true})
      }
    },
    async get(id) {
      const size = await sizeOf(id)
      if (size === undefined) return undefined
      const object: MediaObject = {body: createReadStream(pathOf(id)), size}
      return object
    },
    async has(id) {
      return (await sizeOf(id)) !== undefined
    },
    describe: () => `fs:${dir}`,
    async close() {},
  }
}

/** Moves a finished file to `target` durably; false when they are on different filesystems. */
async function moveInto(path: string, target: string, size: number): Promise<boolean> {
  const file = await open(path, 'r')
  try {
    const {size: actual} = await file.stat()
    if (actual !== size) throw new Error(`staged media ${path} has ${actual} bytes, expected ${size}`)
    await file.sync()
  } finally {
    await file.close()
  }
  await mkdir(dirname(target), {recursive: true})
  try {
    await rename(path, target)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EXDEV') return false
    throw error
  }
  await syncDir(dirname(target))
  return true
}

/** Makes a rename durable (best effort: not every platform can fsync a directory). */
async function syncDir(path: string): Promise<void> {
  try {
    const handle = await open(path, 'r')
    try {
      await handle.sync()
    } finally {
      await handle.close()
    }
  } catch {
    // Windows and some network filesystems refuse; the file itself was already fsynced.
  }
}

function isNotFound(error: unknown): boolean {
  return (error as NodeJS.ErrnoException)?.code === 'ENOENT'
}
