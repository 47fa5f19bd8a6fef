import {createHash} from 'node:crypto'
import {mkdtemp, readdir, rm} from 'node:fs/promises'
import {request} from 'node:http'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {availableLegs, LEGS, startCluster, type TestCluster, type TestUser, waitFor} from '../helpers/cluster.js'
import {exe, jpeg, pdf, png} from '../helpers/media-fixtures.js'
import {expectCode, pair, waitMessage} from '../helpers/protocol.js'

// Media through the real HTTP API and real WebSocket clients, on both adapter sets: uploads checked by
// their bytes, members-only downloads, and messages that carry media.

const available = await availableLegs()
const MAX_BYTES = 64 * 1024

describe.each(LEGS)('media on %s adapters', (leg) => {
  describe.runIf(available[leg])('upload, download, send', () => {
    let cluster: TestCluster
    let dir: string

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'msgr-media-test-'))
      // Both gateways share one media directory, as a cluster on a shared volume does.
      cluster = await startCluster(leg, {gateways: 2, workers: 1, config: {media: {dir, maxBytes: MAX_BYTES}}})
    })
    afterAll(async () => {
      await cluster?.stop()
      if (dir) await rm(dir, {recursive: true, force: true})
    })

    const upload = (who: TestUser, body: Buffer | ReadableStream<Uint8Array>, contentType?: string, gateway = 0) =>
      fetch(`${cluster.gateways[gateway]!.url}/v1/media`, {
        method: 'POST',
        headers: {authorization: `Bearer ${who.accessToken}`, ...(contentType ? {'content-type': contentType} : {})},
        body,
        ...(body instanceof ReadableStream ? {duplex: 'half'} : {}),
      } as RequestInit)
    const uploaded = async (who: TestUser, body: Buffer, contentType?: string) => {
      const res = await upload(who, body, contentType)
      expect(res.status, await res.clone().text()).toBe(201)
      return (await res.json()) as {id: string; contentType: string; size: number}
    }
    const download = (who: TestUser | undefined, id: string, gateway = 0, headers: Record<string, string> = {}) =>
      fetch(`${cluster.gateways[gateway]!.url}/v1/media/${id}`, {headers: {...(who ? {authorization: `Bearer ${who.accessToken}`} : {}), ...headers}})
    const errorCode = async (res: Response) => ((await res.json()) as {error: {code: string}}).error.code

    it('stores PNG, JPEG, PDF and text by their bytes and answers {id, contentType, size}', async () => {
      const a = await cluster.login()
      for (const [bytes, claimed, type] of [
        [png('a'), 'image/png', 'image/png'],
        [jpeg('a'), 'image/jpeg', 'image/jpeg'],
        [pdf('a'), 'application/pdf', 'application/pdf'],
        [Buffer.from('plain words ✓'), 'text/plain; charset=utf-8', 'text/plain'],
        [png('unclaimed'), undefined, 'image/png'],
        [jpeg('octet'), 'application/octet-stream', 'image/jpeg'],
      ] as const) {
        const body = await uploaded(a, bytes, claimed)
        expect(body).toEqual({id: sha256(bytes), contentType: type, size: bytes.length})
      }
    })

    it('refuses bytes that are not what they claim, or not an accepted type, with 415', async () => {
      const a = await cluster.login()
      const pngAsJpeg = await upload(a, png('liar'), 'image/jpeg')
      expect(pngAsJpeg.status).toBe(415)
      expect(await pngAsJpeg.json()).toMatchObject({error: {code: 'unsupported_media_type', details: {detected: 'image/png'}}})
      for (const claimed of ['application/octet-stream', 'image/png', 'application/x-msdownload', undefined]) {
        const res = await upload(a, exe(), claimed)
        expect(res.status).toBe(415)
        expect(await errorCode(res)).toBe('unsupported_media_type')
      }
      const svg = await upload(a, Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>'), 'image/svg+xml')
      expect(svg.status).toBe(415)
      const binaryAsText = await upload(a, Buffer.from([0x68, 0x00, 0x69]), 'text/plain')
      expect(binaryAsText.status).toBe(415)
    })

    it('refuses bodies over the limit with 413, by Content-Length and while streaming', async () => {
      const a = await cluster.login()
      const big = Buffer.concat([png('big'), Buffer.alloc(MAX_BYTES)])
      const declared = await upload(a, big, 'image/png')
      expect(declared.status).toBe(413)
      expect(await declared.json()).toMatchObject({error: {code: 'too_large', details: {maxBytes: MAX_BYTES}}})
      // Chunked, with no Content-Length: the limit is found while the bytes arrive.
      const chunks = [png('streamed'), ...Array.from({length: 8}, () => Buffer.alloc(16 * 1024, 1))]
      const stream = new ReadableStream<Uint8Array>({
        pull(controller) {
          const next = chunks.shift()
          if (next) controller.enqueue(next)
          else controller.close()
        },
      })
      const streamed = await upload(a, stream, 'image/png')
      expect(streamed.status).toBe(413)
      expect(await errorCode(streamed)).toBe('too_large')
      // Exactly at the limit is fine.
      const atLimit = Buffer.concat([png('edge'), Buffer.alloc(MAX_BYTES - png('edge').length)])
      expect((await uploaded(a, atLimit, 'image/png')).size).toBe(MAX_BYTES)
      // Refused or stored, no upload leaves a spool file behind.
      expect(await readdir(join(dir, 'tmp'))).toEqual([])
    })

    it('cleans up after a client that goes away mid-upload', async () => {
      const a = await cluster.login()
      const {hostname, port} = new URL(cluster.gateways[0]!.url)
      const req = request({host: hostname, port, method: 'POST', path: '/v1/media', headers: {authorization: `Bearer ${a.accessToken}`, 'content-length': 40_000}})
      req.on('error', () => {})
      req.write(png('half'))
      req.write(Buffer.alloc(10_000))
      await waitFor(async () => (await readdir(join(dir, 'tmp'))).length === 1)
      req.destroy()
      await waitFor(async () => (await readdir(join(dir, 'tmp'))).length === 0)
      expect((await uploaded(a, png('after the abort'), 'image/png')).contentType).toBe('image/png')
    })

    it('needs a valid access token and a non-empty body', async () => {
      const a = await cluster.login()
      const anonymous = await fetch(`${cluster.gateways[0]!.url}/v1/media`, {method: 'POST', headers: {'content-type': 'image/png'}, body: png()})
      expect(anonymous.status).toBe(401)
      const forged = await fetch(`${cluster.gateways[0]!.url}/v1/media`, {method: 'POST', headers: {authorization: 'Bearer nope'}, body: png()})
      expect(forged.status).toBe(401)
      const empty = await upload(a, Buffer.alloc(0), 'image/png')
      expect(empty.status).toBe(400)
      expect(await errorCode(empty)).toBe('invalid_request')
      expect((await download(undefined, sha256(png()))).status).toBe(401)
      expect((await fetch(`${cluster.gateways[0]!.url}/v1/media`)).status).toBe(405)
    })

    it('gives identical bytes the same id, for anyone, every time', async () => {
      const a = await cluster.login()
      const b = await cluster.login()
      const bytes = png('same')
      const first = await uploaded(a, bytes, 'image/png')
      const again = await uploaded(a, bytes, 'image/png')
      const byOther = await uploaded(b, bytes)
      expect(again).toEqual(first)
      expect(byOther).toEqual(first)
      // Each uploader may download it; both were recorded.
      expect((await download(b, first.id)).status).toBe(200)
      const {sql} = cluster.adaptersOf(cluster.gateways[0]!)
      const {rows} = await sql.query<{n: string}>('SELECT count(*)::text AS n FROM media_uploads WHERE media_id = $1', [first.id])
      expect(rows[0]!.n).toBe('2')
    })

    it('lets the uploader and members of the conversation it was sent to download it, nobody else', async () => {
      const {pairA: a, pairB: b, a: ca, b: cb, conversation} = await pair(cluster)
      const outsider = await cluster.login()
      const bytes = jpeg('for b only')
      const media = await uploaded(a, bytes, 'image/jpeg')
      expect((await download(b, media.id)).status).toBe(403)

      const sent = await ca.request('send', {conversation, clientMsgId: 'img-1', kind: 'image', body: {media: media.id, caption: 'look'}})
      const seen = await waitMessage(cb, conversation, sent.seq)
      expect(seen).toMatchObject({kind: 'image', body: {media: media.id, caption: 'look', contentType: 'image/jpeg', size: bytes.length}})

      // As soon as b sees the message, b can fetch it, from either gateway.
      for (const gateway of [1, 0]) {
        const res = await download(b, media.id, gateway)
        expect(res.status).toBe(200)
        expect(res.headers.get('content-type')).toBe('image/jpeg')
        expect(res.headers.get('content-length')).toBe(String(bytes.length))
        expect(res.headers.get('etag')).toBe(`"${media.id}"`)
        expect(res.headers.get('cache-control')).toMatch(/private.*immutable/)
        expect(Buffer.from(await res.arrayBuffer()).equals(bytes)).toBe(true)
      }
      const uploader = await download(a, media.id)
      expect(uploader.status).toBe(200)
      expect(Buffer.from(await uploader.arrayBuffer()).equals(bytes)).toBe(true)
      const outsiderRes = await download(outsider, media.id)
      expect(outsiderRes.status).toBe(403)
      expect(await errorCode(outsiderRes)).toBe('forbidden')
      expect((await download(b, media.id, 0, {'if-none-match': `"${media.id}"`})).status).toBe(304)
      expect((await download(b, sha256(Buffer.from('never uploaded')))).status).toBe(404)
      expect((await download(b, 'not-an-id')).status).toBe(404)

      // The message is in history with the server's type and size.
      const history = await cb.request('sync', {conversation, after: 0})
      expect(history.messages.at(-1)).toMatchObject({kind: 'image', body: {media: media.id, contentType: 'image/jpeg', size: bytes.length}})
    })

    it('stops serving a group’s media to a member once removed', async () => {
      const owner = await cluster.login()
      const member = await cluster.login()
      const co = await cluster.connect(owner)
      const {conversation} = await co.request('group.create', {name: 'media group', members: [member.userId]})
      const media = await uploaded(owner, pdf('minutes'), 'application/pdf')
      await co.request('send', {conversation, clientMsgId: 'doc', kind: 'file', body: {media: media.id, name: 'minutes.pdf'}})
      expect((await download(member, media.id)).status).toBe(200)
      await co.request('group.remove', {conversation, members: [member.userId]})
      expect((await download(member, media.id)).status).toBe(403)
    })

    it('refuses media messages with unknown, foreign or mismatched media', async () => {
      const {pairA: a, a: ca, b: cb, conversation, pairB: b} = await pair(cluster)
      await expectCode(ca.request('send', {conversation, clientMsgId: 'm-unknown', kind: 'image', body: {media: sha256(Buffer.from('nope'))}}), 'not_found')
      // Someone else's upload, never shared with a: forbidden.
      const stranger = await cluster.login()
      const theirs = await uploaded(stranger, png('stranger'), 'image/png')
      await expectCode(ca.request('send', {conversation, clientMsgId: 'm-theirs', kind: 'image', body: {media: theirs.id}}), 'forbidden')
      expect((await download(b, theirs.id)).status).toBe(403)
      // Shape and kind checks.
      const doc = await uploaded(a, pdf('kind'), 'application/pdf')
      await expectCode(ca.request('send', {conversation, clientMsgId: 'm-kind', kind: 'image', body: {media: doc.id}}), 'invalid_request')
      await expectCode(ca.request('send', {conversation, clientMsgId: 'm-str', kind: 'image', body: doc.id}), 'invalid_request')
      await expectCode(ca.request('send', {conversation, clientMsgId: 'm-bad', kind: 'file', body: {media: 'abc'}}), 'invalid_request')
      // A non-member cannot attach media to the conversation, even media of their own.
      const outsider = await cluster.connect(stranger)
      await expectCode(outsider.request('send', {conversation, clientMsgId: 'm-out', kind: 'image', body: {media: theirs.id}}), 'forbidden')
      const {rows} = await cluster.adaptersOf(cluster.gateways[0]!).sql.query('SELECT 1 FROM media_refs WHERE media_id = $1', [theirs.id])
      expect(rows).toHaveLength(0)

      // Media shared in a conversation b is in may be passed on by b to another conversation.
      const sent = await ca.request('send', {conversation, clientMsgId: 'm-doc', kind: 'file', body: {media: doc.id}})
      await waitMessage(cb, conversation, sent.seq)
      const c = await cluster.login()
      const {conversation: other} = await cb.request('conv.direct', {with: c.userId})
      expect((await download(c, doc.id)).status).toBe(403)
      await cb.request('send', {conversation: other, clientMsgId: 'pass-on', kind: 'file', body: {media: doc.id, caption: 'from a'}})
      expect((await download(c, doc.id)).status).toBe(200)
    })

    it('lets members of the conversation a media message is forwarded to download it', async () => {
      const {pairA: a, a: ca, b: cb, conversation, pairB: b} = await pair(cluster)
      const media = await uploaded(a, png('forwarded'), 'image/png')
      const sent = await ca.request('send', {conversation, clientMsgId: 'to-fwd', kind: 'image', body: {media: media.id}})
      await waitMessage(cb, conversation, sent.seq)
      const d = await cluster.login()
      const {conversation: other} = await cb.request('conv.direct', {with: d.userId})
      expect((await download(d, media.id)).status).toBe(403)
      await cb.request('forward', {conversation: other, clientMsgId: 'fwd-1', from: {conversation, seq: sent.seq}})
      const res = await download(d, media.id)
      expect(res.status).toBe(200)
      expect(Buffer.from(await res.arrayBuffer()).equals(png('forwarded'))).toBe(true)
      expect((await download(b, media.id)).status).toBe(200)
    })
  })
})

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex')
}
