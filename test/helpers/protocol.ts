import {randomUUID} from 'node:crypto'

import {expect} from 'vitest'

import type {MsgrClient} from '../../src/client/client.js'
import type {ErrorCode} from '../../src/errors.js'
import type {InboxEntry, MessageEvent, MessageView, ServerEvent} from '../../src/protocol/frames.js'
import type {TestCluster, TestUser} from './cluster.js'

// Protocol helpers the integration suites share: users with connected devices, waiting for and
// collecting `message` events, paging through `sync`, and expecting request errors.

/** A user's device: its login, its user id and its connected client. */
export interface Person {
  pair: TestUser
  id: string
  c: MsgrClient
}

/** A new user with one device, connected to `gateway`. */
export async function person(cluster: TestCluster, gateway: number): Promise<Person> {
  const pair = await cluster.login(undefined, 'test-device', gateway)
  return {pair, id: pair.userId, c: await cluster.connect(pair, gateway)}
}

export interface OtherDeviceOptions {
  /** The device name; default `device-<random>`. */
  device?: string
  /** Check that the login resolved to `of`'s user before connecting. */
  expectSameUser?: boolean
}

/** Another device of `of`'s user (same phone), connected to `gateway`. */
export async function otherDevice(cluster: TestCluster, of: Person, gateway: number, options: OtherDeviceOptions = {}): Promise<Person> {
  const pair = await cluster.login(of.pair.phone, options.device ?? `device-${randomUUID().slice(0, 8)}`, gateway)
  if (options.expectSameUser) expect(pair.userId).toBe(of.id)
  return {pair, id: pair.userId, c: await cluster.connect(pair, gateway)}
}

/** Two new users, A connected to gateway 0 and B to gateway 1, and their direct conversation (opened by A). */
export async function pair(cluster: TestCluster) {
  const pairA = await cluster.login()
  const pairB = await cluster.login()
  const a = await cluster.connect(pairA, 0)
  const b = await cluster.connect(pairB, 1)
  const {conversation} = await a.request('conv.direct', {with: pairB.userId})
  return {a, b, conversation, pairA, pairB}
}

/** Matches `message` events of `conversation` (and of `seq`, when given). */
export const isMessage =
  (conversation: string, seq?: number) =>
  (e: ServerEvent): e is MessageEvent =>
    e.ev === 'message' && e.conversation === conversation && (seq === undefined || e.seq === seq)

/** The `message` event of `conversation` at `seq`, as it arrives on `c`. */
export function waitMessage(c: MsgrClient, conversation: string, seq: number): Promise<MessageEvent> {
  return c.waitForEvent(isMessage(conversation, seq))
}

/** The `message` events of `conversation` `c` has received so far. */
export function liveEvents(c: MsgrClient, conversation: string): MessageEvent[] {
  return c.events.filter(isMessage(conversation))
}

/** The seqs of the `message` events of `conversation` `c` has received so far, in arrival order. */
export function liveSeqs(c: MsgrClient, conversation: string): number[] {
  return liveEvents(c, conversation).map((e) => e.seq)
}

/** The whole history of `conversation`, paging through `sync` 500 at a time. */
export async function syncAll(c: MsgrClient, conversation: string): Promise<MessageView[]> {
  const all: MessageView[] = []
  for (;;) {
    const page = await c.request('sync', {conversation, after: all.at(-1)?.seq ?? 0, limit: 500})
    all.push(...page.messages)
    if (!page.hasMore) return all
  }
}

/** The messages' stored fields only (what live events and sync pages both carry). */
export function strip(messages: MessageView[]) {
  return messages.map(({seq, messageId, sender, senderDevice, body, kind, clientMsgId, ts}) => ({seq, messageId, sender, senderDevice, body, kind, clientMsgId, ts}))
}

/** `conversation`'s entry in `c`'s inbox, if it has one. */
export async function inboxEntry(c: MsgrClient, conversation: string): Promise<InboxEntry | undefined> {
  return (await c.request('inbox', {})).conversations.find((e) => e.conversation === conversation)
}

/** Integers from `from` up to `to`, with `to` included or not as `end` says. */
export function range(from: number, to: number, end: 'inclusive' | 'exclusive'): number[] {
  const last = end === 'inclusive' ? to : to - 1
  return Array.from({length: Math.max(0, last - from + 1)}, (_, i) => from + i)
}

/** Expects the request to fail with `code` (`label`: the assertion's message). */
export async function expectCode(promise: Promise<unknown>, code: ErrorCode, label?: string): Promise<void> {
  await expect(promise, label).rejects.toMatchObject({error: {code}})
}
