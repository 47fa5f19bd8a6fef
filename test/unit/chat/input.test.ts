import {describe, expect, it} from 'vitest'

import {InputError, parseInput} from '../../../src/chat/input.js'

const U1 = '0190f1a0-3c4e-7a61-9d2e-5b7c8e9f0a11'
const U2 = '0190F1A0-7D21-7B02-8C4F-1E2D3C4B5A62'

describe('chat compose line', () => {
  it('sends plain text (with the chosen reply target); // escapes a leading slash; blank is nothing', () => {
    expect(parseInput('  hello there ')).toEqual({cmd: 'send', text: 'hello there'})
    expect(parseInput('hi', 4)).toEqual({cmd: 'send', text: 'hi', replyTo: 4})
    expect(parseInput('//shrug')).toEqual({cmd: 'send', text: '/shrug'})
    expect(parseInput('   ')).toBeUndefined()
  })

  it('parses every command', () => {
    expect(parseInput(`/dm ${U1}`)).toEqual({cmd: 'dm', user: U1})
    expect(parseInput(`/group Climbing team ${U1} ${U2}`)).toEqual({cmd: 'group', name: 'Climbing team', members: [U1, U2.toLowerCase()]})
    expect(parseInput(`/add ${U1}`)).toEqual({cmd: 'add', members: [U1]})
    expect(parseInput('/invite')).toEqual({cmd: 'invite', approval: false})
    expect(parseInput('/invite approval')).toEqual({cmd: 'invite', approval: true})
    expect(parseInput('/join AbCdEf12_-xy')).toEqual({cmd: 'join', code: 'AbCdEf12_-xy'})
    expect(parseInput('/join https://chat.example/join/AbCdEf12_-xy')).toEqual({cmd: 'join', code: 'AbCdEf12_-xy'})
    expect(parseInput('/reply 3')).toEqual({cmd: 'reply', seq: 3})
    expect(parseInput('/reply #3 sure, 12:30')).toEqual({cmd: 'reply', seq: 3, text: 'sure, 12:30'})
    expect(parseInput('/react 5 👍')).toEqual({cmd: 'react', seq: 5, emoji: '👍', remove: false})
    expect(parseInput('/unreact 5 👍')).toEqual({cmd: 'react', seq: 5, emoji: '👍', remove: true})
    expect(parseInput('/edit 7 new  text')).toEqual({cmd: 'edit', seq: 7, text: 'new  text'})
    expect(parseInput('/delete 7')).toEqual({cmd: 'delete', seq: 7, scope: 'everyone'})
    expect(parseInput('/delete 7 me')).toEqual({cmd: 'delete', seq: 7, scope: 'me'})
    expect(parseInput('/presence busy in a meeting')).toEqual({cmd: 'presence', status: 'busy', custom: 'in a meeting'})
    for (const [line, cmd] of [
      ['/safety', 'safety'],
      ['/info', 'info'],
      ['/whoami', 'whoami'],
      ['/help', 'help'],
      ['/quit', 'quit'],
      ['/leave', 'leave'],
    ]) {
      expect(parseInput(line!)).toEqual({cmd})
    }
  })

  it('refuses bad input with a message that says what to type', () => {
    const fails = (line: string, message: RegExp) => {
      expect(() => parseInput(line)).toThrow(InputError)
      expect(() => parseInput(line)).toThrow(message)
    }
    fails('/dm +15550001111', /no lookup by phone number; ask them for their user id/)
    fails('/dm bob', /not a user id/)
    fails('/dm', /usage: \/dm <user-id>/)
    fails('/reply x', /usage: \/reply <#>/)
    fails('/react 3', /usage: \/react <#> <emoji>/)
    fails('/edit 3', /usage: \/edit <#> <new text>/)
    fails('/join short', /usage: \/join <code>/)
    fails(`/group ${U1}`, /the name is not an id/)
    fails('/presence asleep', /online\|away\|busy\|offline/)
    fails('/frobnicate', /unknown command \/frobnicate: \/help/)
  })
})
