import {createHash} from 'node:crypto'
import {existsSync} from 'node:fs'
import {mkdtemp, readdir, readFile, rm, stat, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {text} from 'node:stream/consumers'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {createFsMediaStore} from '../../src/adapters/fs/media-store.js'
import {createS3MediaStore} from '../../src/adapters/s3/media-store.js'
import type {MediaStore} from '../../src/core/media/media-store.js'
import {type FakeS3, startFakeS3} from '../helpers/fake-s3.js'

// Both media store adapters against one contract: the filesystem for real, S3 through the real AWS SDK
// against a local server that speaks the object API and checks SigV4 signatures.

const CREDENTIALS = {accessKeyId: 'AKIDMSGRTEST', secretAccessKey: 'msgr-test-secret-key', region: 'eu-test-1'}
const BUCKET = 'msgr-media'

const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex')
const bytesOf = async (store: MediaStore, id: string) => {
  const object = await store.get(id)
  if (!object) return undefined
  const chunks: Buffer[] = []
  for await (const chunk of object.body) chunks.push(chunk as Buffer)
  return {bytes: Buffer.concat(chunks), size: object.size, contentType: object.contentType}
}

let staging: string | undefined
async function stage(bytes: Buffer): Promise<string> {
  staging ??= await mkdtemp(join(tmpdir(), 'msgr-staged-'))
  const path = join(staging, `${sha(bytes)}-${Math.random().toString(36).slice(2)}`)
  await writeFile(path, bytes)
  return path
}

function contract(name: string, open: () => Promise<MediaStore>) {
  describe(`${name} media store`, () => {
    let store: MediaStore
    beforeAll(async () => {
      store = await open()
    })
    afterAll(async () => {
      await store?.close()
    })

    it('stores bytes and streams them back; unknown ids are absent', async () => {
      const bytes = Buffer.from('%PDF-1.4 a small document')
      const id = sha(bytes)
      expect(await store.has(id)).toBe(false)
      expect(await store.get(id)).toBeUndefined()
      await store.put(id, bytes, {contentType: 'application/pdf', size: bytes.length})
      expect(await store.has(id)).toBe(true)
      const back = await bytesOf(store, id)
      expect(back?.bytes.equals(bytes)).toBe(true)
      expect(back?.size).toBe(bytes.length)
    })

    it('takes a large body from a staged file, and a second put of the same id is harmless', async () => {
      const bytes = Buffer.alloc(3 * 1024 * 1024 + 17)
      for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 31) & 0xff
      const id = sha(bytes)
      const staged = await stage(bytes)
      await store.put(id, {path: staged}, {contentType: 'video/mp4', size: bytes.length})
      await rm(staged, {force: true}) // the caller's part: whatever the store did not move
      await store.put(id, bytes, {contentType: 'video/mp4', size: bytes.length})
      expect((await bytesOf(store, id))?.bytes.equals(bytes)).toBe(true)
    })

    it('refuses ids that are not sha256 hex', async () => {
      await expect(store.put('../../etc/passwd', Buffer.from('x'), {contentType: 'text/plain', size: 1})).rejects.toThrow(/not a media id/)
    })
  })
}

let dir: string
contract('fs', async () => {
  dir = await mkdtemp(join(tmpdir(), 'msgr-media-'))
  return createFsMediaStore({dir})
})

describe('fs media store layout', () => {
  it('renames a staged file on the same filesystem into place, and copies one from another', async () => {
    const root = await mkdtemp(join(tmpdir(), 'msgr-media-'))
    try {
      const store = await createFsMediaStore({dir: root})
      const bytes = Buffer.from('moved, not copied')
      const staged = join(root, 'tmp', 'upload-1')
      await writeFile(staged, bytes)
      await store.put(sha(bytes), {path: staged}, {contentType: 'text/plain', size: bytes.length})
      await expect(stat(staged)).rejects.toMatchObject({code: 'ENOENT'})
      expect((await bytesOf(store, sha(bytes)))?.bytes.equals(bytes)).toBe(true)
      // /dev/shm is a tmpfs on Linux: rename fails with EXDEV and the store copies instead.
      if (existsSync('/dev/shm')) {
        const other = Buffer.from('from another filesystem')
        const far = join('/dev/shm', `msgr-media-test-${process.pid}`)
        await writeFile(far, other)
        await store.put(sha(other), {path: far}, {contentType: 'text/plain', size: other.length})
        expect((await bytesOf(store, sha(other)))?.bytes.equals(other)).toBe(true)
        expect(existsSync(far)).toBe(true)
        await rm(far, {force: true})
      }
      await expect(store.put(sha(Buffer.from('short')), {path: await stage(Buffer.from('shor'))}, {contentType: 'text/plain', size: 5})).rejects.toThrow(/expected 5/)
    } finally {
      await rm(root, {recursive: true, force: true})
    }
  })

  it('is content-addressed as <dir>/ab/cd/<sha256> and leaves no temp files', async () => {
    const root = await mkdtemp(join(tmpdir(), 'msgr-media-'))
    try {
      const store = await createFsMediaStore({dir: root})
      const bytes = Buffer.from('hello')
      const id = sha(bytes)
      await Promise.all(Array.from({length: 5}, () => store.put(id, bytes, {contentType: 'text/plain', size: 5})))
      expect(await readFile(join(root, id.slice(0, 2), id.slice(2, 4), id), 'utf8')).toBe('hello')
      expect(await readdir(join(root, 'tmp'))).toEqual([])
      await expect(store.put(sha(Buffer.from('other')), Buffer.from('other'), {contentType: 'text/plain', size: 99})).rejects.toThrow(/expected 99/)
      expect(await readdir(join(root, 'tmp'))).toEqual([])
    } finally {
      await rm(root, {recursive: true, force: true})
    }
  })
})

let s3: FakeS3
contract('s3 (local fake S3 server)', async () => {
  s3 = await startFakeS3(CREDENTIALS, BUCKET)
  return createS3MediaStore({bucket: BUCKET, endpoint: s3.url, ...CREDENTIALS})
})

describe('s3 media store against the fake server', () => {
  it('signs every request with SigV4, path-style, under media/', async () => {
    expect(s3.requests.length).toBeGreaterThan(0)
    for (const r of s3.requests) {
      expect(r.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDMSGRTEST\/\d{8}\/eu-test-1\/s3\/aws4_request, ?SignedHeaders=.*, ?Signature=[0-9a-f]{64}$/)
      expect(r.signatureValid).toBe(true)
      expect(r.path).toMatch(new RegExp(`^/${BUCKET}/media/[0-9a-f]{64}$`))
    }
    expect(new Set(s3.requests.map((r) => r.method))).toEqual(new Set(['PUT', 'GET', 'HEAD']))
    const stored = [...s3.objects.entries()].find(([, o]) => o.contentType === 'application/pdf')
    expect(stored?.[0]).toMatch(/^media\/[0-9a-f]{64}$/)
  })

  it('retries a failed PUT by reopening the source', async () => {
    const store = createS3MediaStore({bucket: BUCKET, endpoint: s3.url, ...CREDENTIALS})
    const bytes = Buffer.from('retry me, please')
    const before = s3.requests.length
    s3.failPuts(2)
    // Each attempt reads the staged file afresh (a replayed, already-drained stream would send nothing).
    await store.put(sha(bytes), {path: await stage(bytes)}, {contentType: 'text/plain', size: bytes.length})
    expect(s3.requests.slice(before).filter((r) => r.method === 'PUT')).toHaveLength(3)
    expect(s3.objects.get(`media/${sha(bytes)}`)?.body.equals(bytes)).toBe(true)
    await store.close()
  })

  it('fails (without retrying) when the secret key is wrong', async () => {
    const store = createS3MediaStore({bucket: BUCKET, endpoint: s3.url, ...CREDENTIALS, secretAccessKey: 'wrong'})
    const before = s3.requests.length
    await expect(store.put(sha(Buffer.from('x')), Buffer.from('x'), {contentType: 'text/plain', size: 1})).rejects.toMatchObject({name: 'SignatureDoesNotMatch'})
    await expect(store.has(sha(Buffer.from('x')))).rejects.toBeDefined()
    expect(s3.requests.slice(before).every((r) => !r.signatureValid)).toBe(true)
    expect(s3.requests.slice(before).filter((r) => r.method === 'PUT')).toHaveLength(1)
    await store.close()
  })

  it('reports the content type it stored', async () => {
    const store = createS3MediaStore({bucket: BUCKET, endpoint: s3.url, ...CREDENTIALS})
    const bytes = Buffer.from('typed')
    await store.put(sha(bytes), bytes, {contentType: 'text/plain', size: bytes.length})
    const object = await store.get(sha(bytes))
    expect(object?.contentType).toBe('text/plain')
    expect(await text(object!.body)).toBe('typed')
    await store.close()
  })
})

afterAll(async () => {
  await s3?.close()
  if (staging) await rm(staging, {recursive: true, force: true})
  if (dir) await rm(dir, {recursive: true, force: true})
})
