import {describe, expect, it} from 'vitest'

import {isMediaKind, kindAccepts, parseMediaBody} from '../../../src/core/media/message-media.js'

const ID = 'a'.repeat(64)

describe('media message rules', () => {
  it('knows the media kinds', () => {
    for (const kind of ['image', 'video', 'audio', 'file']) expect(isMediaKind(kind)).toBe(true)
    for (const kind of ['text', 'system', 'images', 'sticker']) expect(isMediaKind(kind)).toBe(false)
  })

  it('accepts {media, caption?, name?} and passes other keys through', () => {
    expect(parseMediaBody('image', {media: ID})).toEqual({media: ID})
    expect(parseMediaBody('file', {media: ID, caption: 'hi', name: 'a.pdf', pages: 3})).toEqual({media: ID, caption: 'hi', name: 'a.pdf', pages: 3})
  })

  it.each([
    ['a string body', ID],
    ['an array', [ID]],
    ['null', null],
    ['no media', {caption: 'x'}],
    ['a short id', {media: 'abc'}],
    ['an upper-case id', {media: 'A'.repeat(64)}],
    ['a non-string caption', {media: ID, caption: 5}],
    ['an empty name', {media: ID, name: ''}],
    ['a long name', {media: ID, name: 'x'.repeat(256)}],
  ])('refuses %s with invalid_request', (_name, body) => {
    expect(() => parseMediaBody('image', body)).toThrow(expect.objectContaining({code: 'invalid_request'}))
  })

  it('matches kinds to content types; file takes any', () => {
    expect(kindAccepts('image', 'image/png')).toBe(true)
    expect(kindAccepts('image', 'application/pdf')).toBe(false)
    expect(kindAccepts('video', 'video/mp4')).toBe(true)
    expect(kindAccepts('audio', 'audio/ogg')).toBe(true)
    expect(kindAccepts('audio', 'video/mp4')).toBe(false)
    expect(kindAccepts('file', 'application/pdf')).toBe(true)
    expect(kindAccepts('file', 'image/gif')).toBe(true)
  })
})
