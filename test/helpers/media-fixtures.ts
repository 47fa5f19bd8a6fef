// Small but well-formed headers of each accepted media type, and a few impostors, for sniffer and API tests.

const ascii = (text: string) => Buffer.from(text, 'latin1')
const u32 = (n: number) => {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n)
  return b
}
const u32le = (n: number) => {
  const b = Buffer.alloc(4)
  b.writeUInt32LE(n)
  return b
}

/** A 1x1 PNG header (signature + IHDR) followed by `payload` (makes distinct files). */
export function png(payload = ''): Buffer {
  const ihdr = Buffer.concat([u32(1), u32(1), Buffer.from([8, 6, 0, 0, 0])])
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), u32(13), ascii('IHDR'), ihdr, u32(0), ascii(payload)])
}

/** SOI + JFIF APP0 segment + EOI. */
export function jpeg(payload = ''): Buffer {
  const app0 = Buffer.concat([ascii('JFIF\0'), Buffer.from([1, 1, 0, 0, 1, 0, 1, 0, 0])])
  return Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10]), app0, ascii(payload), Buffer.from([0xff, 0xd9])])
}

export function pdf(payload = ''): Buffer {
  return Buffer.concat([ascii('%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\n'), ascii(payload), ascii('\ntrailer <<>>\n%%EOF\n')])
}

export function gif(): Buffer {
  return Buffer.concat([ascii('GIF89a'), Buffer.from([1, 0, 1, 0, 0x80, 0, 0]), Buffer.alloc(6), ascii(';')])
}

export function webp(): Buffer {
  const body = Buffer.concat([ascii('WEBP'), ascii('VP8 '), u32le(10), Buffer.alloc(10)])
  return Buffer.concat([ascii('RIFF'), u32le(body.length), body])
}

export function mp4(brand = 'isom'): Buffer {
  const ftyp = Buffer.concat([ascii('ftyp'), ascii(brand), u32(0x200), ascii('isomiso2mp41')])
  return Buffer.concat([u32(ftyp.length + 4), ftyp, u32(8), ascii('mdat')])
}

/** An MPEG-1 Layer III frame header (128 kbit/s, 44.1 kHz) and silence. */
export function mp3Frame(): Buffer {
  return Buffer.concat([Buffer.from([0xff, 0xfb, 0x90, 0x64]), Buffer.alloc(413)])
}

export function mp3WithId3(): Buffer {
  return Buffer.concat([ascii('ID3'), Buffer.from([3, 0, 0, 0, 0, 0, 0]), mp3Frame()])
}

/** The first Ogg page with an identification packet of the given codec. */
export function ogg(packet: Buffer = Buffer.concat([Buffer.from([1]), ascii('vorbis'), Buffer.alloc(23)])): Buffer {
  const header = Buffer.concat([ascii('OggS'), Buffer.from([0, 2]), Buffer.alloc(8), u32le(1), u32le(0), u32le(0), Buffer.from([1, packet.length])])
  return Buffer.concat([header, packet])
}

/** A DOS/PE executable's first bytes. */
export function exe(): Buffer {
  return Buffer.concat([ascii('MZ'), Buffer.from([0x90, 0, 3, 0, 0, 0, 4, 0, 0, 0, 0xff, 0xff]), Buffer.alloc(48), ascii('This program cannot be run in DOS mode.')])
}
