// Content-type detection from the bytes themselves: the client's Content-Type is a claim to check,
// never the answer. Pure: bytes in, a type out (the caller streams chunks through `createSniffer`).

/** The types msgr stores. Anything else is refused with 415 unsupported_media_type. */
export const MEDIA_TYPES = [
  'image/jpeg',
  'image/png',
  'image/gif',
  'image/webp',
  'video/mp4',
  'audio/mpeg',
  'audio/ogg',
  'application/pdf',
  'text/plain',
] as const

export type MediaType = (typeof MEDIA_TYPES)[number]

/** How many leading bytes `sniffHead` looks at. */
export const SNIFF_HEAD_BYTES = 64

export interface Sniffer {
  /** Feed the next chunk of the body, in order. */
  push(chunk: Uint8Array): void
  /** The type of everything pushed so far, or undefined when it is none of `MEDIA_TYPES`. */
  finish(): MediaType | undefined
}

/**
 * Binary formats are decided by their first bytes; text/plain needs every byte (valid UTF-8, no NUL),
 * so the sniffer keeps validating while bytes arrive instead of buffering the body.
 */
export function createSniffer(): Sniffer {
  const head = new Uint8Array(SNIFF_HEAD_BYTES)
  let headLength = 0
  let total = 0
  let text: TextValidator | undefined = createTextValidator()
  return {
    push(chunk) {
      if (headLength < SNIFF_HEAD_BYTES) {
        const take = Math.min(SNIFF_HEAD_BYTES - headLength, chunk.length)
        head.set(chunk.subarray(0, take), headLength)
        headLength += take
        // A known binary header settles it: no need to validate the rest as text.
        if (headLength === SNIFF_HEAD_BYTES && sniffHead(head)) text = undefined
      }
      total += chunk.length
      if (text && !text.push(chunk)) text = undefined
    },
    finish() {
      if (total === 0) return undefined
      const binary = sniffHead(head.subarray(0, headLength))
      if (binary) return binary
      return text?.finish() ? 'text/plain' : undefined
    },
  }
}

/** The binary type the leading bytes announce, or undefined (then only text/plain remains possible). */
export function sniffHead(b: Uint8Array): Exclude<MediaType, 'text/plain'> | undefined {
  if (startsWith(b, [0xff, 0xd8, 0xff])) return 'image/jpeg'
  if (startsWith(b, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'image/png'
  if (ascii(b, 0, 'GIF87a') || ascii(b, 0, 'GIF89a')) return 'image/gif'
  if (ascii(b, 0, 'RIFF') && ascii(b, 8, 'WEBP')) return 'image/webp'
  if (ascii(b, 0, '%PDF-')) return 'application/pdf'
  if (ascii(b, 4, 'ftyp') && MP4_BRANDS.has(latin1(b, 8, 4))) return 'video/mp4'
  if (ascii(b, 0, 'OggS') && OGG_AUDIO_CODECS.some((codec) => startsWith(b.subarray(28), codec))) return 'audio/ogg'
  if (ascii(b, 0, 'ID3') || mpegAudioFrame(b)) return 'audio/mpeg'
  return undefined
}

/** The media type of a Content-Type header value, lower-cased, without parameters and with common aliases resolved. */
export function essence(contentType: string): string {
  const type = contentType.split(';', 1)[0]!.trim().toLowerCase()
  return ALIASES[type] ?? type
}

export function isMediaType(type: string): type is MediaType {
  return (MEDIA_TYPES as readonly string[]).includes(type)
}

// ISO base media brands of plain MP4 video (M4A/M4B audio, QuickTime, HEIF, AVIF and 3GP are other types).
const MP4_BRANDS = new Set(['isom', 'iso2', 'iso3', 'iso4', 'iso5', 'iso6', 'mp41', 'mp42', 'mp71', 'avc1', 'dash', 'M4V ', 'M4VP', 'MSNV', 'NDAS', 'f4v ', 'F4V '])

// Identification header of the first Ogg packet (offset 28 of the first page): Vorbis, Opus, FLAC, Speex.
const OGG_AUDIO_CODECS = [[0x01, ...bytes('vorbis')], bytes('OpusHead'), [0x7f, ...bytes('FLAC')], bytes('Speex   ')]

const ALIASES: Record<string, string> = {
  'image/jpg': 'image/jpeg',
  'image/pjpeg': 'image/jpeg',
  'audio/mp3': 'audio/mpeg',
  'audio/mpeg3': 'audio/mpeg',
  'audio/x-mpeg': 'audio/mpeg',
  'application/x-pdf': 'application/pdf',
}

/** An MPEG-1/2/2.5 Layer I-III frame header (AAC's ADTS has layer 0 and is not audio/mpeg). */
function mpegAudioFrame(b: Uint8Array): boolean {
  if (b.length < 4 || b[0] !== 0xff || (b[1]! & 0xe0) !== 0xe0) return false
  const version = (b[1]! >> 3) & 0b11
  const layer = (b[1]! >> 1) & 0b11
  const bitrate = b[2]! >> 4
  const sampleRate = (b[2]! >> 2) & 0b11
  return version !== 0b01 && layer !== 0b00 && bitrate !== 0b1111 && sampleRate !== 0b11
}

interface TextValidator {
  /** False as soon as the bytes cannot be text. */
  push(chunk: Uint8Array): boolean
  finish(): boolean
}

function createTextValidator(): TextValidator {
  const decoder = new TextDecoder('utf-8', {fatal: true})
  const valid = (fn: () => unknown) => {
    try {
      fn()
      return true
    } catch {
      return false
    }
  }
  return {
    push: (chunk) => !chunk.includes(0) && valid(() => decoder.decode(chunk, {stream: true})),
    // A sequence cut off at the end of the body is invalid too.
    finish: () => valid(() => decoder.decode()),
  }
}

function startsWith(b: Uint8Array, prefix: readonly number[]): boolean {
  if (b.length < prefix.length) return false
  return prefix.every((byte, i) => b[i] === byte)
}

function ascii(b: Uint8Array, offset: number, text: string): boolean {
  return startsWith(b.subarray(offset), bytes(text))
}

function latin1(b: Uint8Array, offset: number, length: number): string {
  return String.fromCharCode(...b.subarray(offset, offset + length))
}

function bytes(text: string): number[] {
  return [...text].map((c) => c.charCodeAt(0))
}
