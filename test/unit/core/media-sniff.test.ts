import {describe, expect, it} from 'vitest'

import {createSniffer, essence, isMediaType, type MediaType, SNIFF_HEAD_BYTES, sniffHead} from '../../../src/core/media/sniff.js'
import {exe, gif, jpeg, mp3Frame, mp3WithId3, mp4, ogg, pdf, png, webp} from '../../helpers/media-fixtures.js'

function sniff(...chunks: Uint8Array[]): MediaType | undefined {
  const sniffer = createSniffer()
  for (const chunk of chunks) sniffer.push(chunk)
  return sniffer.finish()
}

/** Every way of cutting `bytes` into two chunks gives the same answer as one chunk. */
function sniffSplit(bytes: Uint8Array): Set<MediaType | undefined> {
  const answers = new Set<MediaType | undefined>()
  for (let cut = 0; cut <= bytes.length; cut++) answers.add(sniff(bytes.subarray(0, cut), bytes.subarray(cut)))
  return answers
}

describe('media sniffer', () => {
  it.each([
    ['image/png', png()],
    ['image/jpeg', jpeg()],
    ['image/gif', gif()],
    ['image/webp', webp()],
    ['video/mp4', mp4('isom')],
    ['video/mp4', mp4('mp42')],
    ['audio/mpeg', mp3WithId3()],
    ['audio/mpeg', mp3Frame()],
    ['audio/ogg', ogg()],
    ['audio/ogg', ogg(Buffer.from('OpusHead\x01\x02\x38\x01\x80\xbb\x00\x00\x00\x00\x00', 'latin1'))],
    ['application/pdf', pdf()],
    ['text/plain', Buffer.from('hello, world\n')],
    ['text/plain', Buffer.from('ünïcödé ✓ 👋 — and CR/LF\r\n\ttabs')],
  ] as const)('recognises %s', (type, bytes) => {
    expect(sniff(bytes)).toBe(type)
    expect(sniffSplit(bytes)).toEqual(new Set([type]))
  })

  it.each([
    ['a Windows executable (MZ)', exe()],
    ['an ELF binary', Buffer.from('\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00', 'latin1')],
    ['a ZIP archive', Buffer.from('PK\x03\x04\x14\x00\x00\x00\x08\x00', 'latin1')],
    ['AAC in ADTS (0xFFF1, layer 0)', Buffer.from([0xff, 0xf1, 0x50, 0x80, 0x02, 0x1f, 0xfc])],
    ['M4A audio (ftyp M4A)', mp4('M4A ')],
    ['QuickTime (ftyp qt)', mp4('qt  ')],
    ['HEIC (ftyp heic)', mp4('heic')],
    ['Ogg Theora video', ogg(Buffer.concat([Buffer.from([0x80]), Buffer.from('theora'), Buffer.alloc(20)]))],
    ['a RIFF that is not WebP (WAV)', Buffer.from('RIFF\x24\x00\x00\x00WAVEfmt ', 'latin1')],
    ['text with a NUL', Buffer.from('hello\0world')],
    ['invalid UTF-8', Buffer.from([0x68, 0x69, 0xc3, 0x28])],
    ['a lone continuation byte', Buffer.from([0x80])],
    ['an overlong encoding', Buffer.from([0xc0, 0xaf])],
    ['a UTF-8 sequence cut off at the end', Buffer.from([0x61, 0xe2, 0x82])],
    ['an encoded surrogate', Buffer.from([0xed, 0xa0, 0x80])],
    ['nothing at all', Buffer.alloc(0)],
  ])('refuses %s', (_name, bytes) => {
    expect(sniff(bytes)).toBeUndefined()
    expect(sniffSplit(bytes)).toEqual(new Set([undefined]))
  })

  it('validates text across chunk boundaries and to the very end', () => {
    const text = Buffer.from('a'.repeat(100) + '€'.repeat(1000))
    const chunks = Array.from({length: Math.ceil(text.length / 7)}, (_, i) => text.subarray(i * 7, i * 7 + 7))
    expect(sniff(...chunks)).toBe('text/plain')
    // A NUL far beyond the head still disqualifies the whole body.
    expect(sniff(...chunks, Buffer.from([0]))).toBeUndefined()
    expect(sniff(...chunks, Buffer.from([0xff]))).toBeUndefined()
  })

  it('decides binary types by the head alone, whatever follows', () => {
    expect(sniff(png(), Buffer.alloc(10_000, 0))).toBe('image/png')
    expect(sniff(pdf(), Buffer.from([0, 0xff, 0xfe]))).toBe('application/pdf')
    expect(sniffHead(png().subarray(0, SNIFF_HEAD_BYTES))).toBe('image/png')
    expect(sniffHead(Buffer.from([0xff, 0xd8]))).toBeUndefined()
  })

  it('reads a Content-Type header as its essence, with aliases', () => {
    expect(essence('IMAGE/JPG; charset=binary')).toBe('image/jpeg')
    expect(essence(' text/plain ; charset=utf-8')).toBe('text/plain')
    expect(essence('audio/mp3')).toBe('audio/mpeg')
    expect(isMediaType('image/png')).toBe(true)
    expect(isMediaType('image/svg+xml')).toBe(false)
    expect(isMediaType('application/x-msdownload')).toBe(false)
  })
})
