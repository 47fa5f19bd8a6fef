import {RequestError} from '../client/client.js'
import {E2eDevice, type E2eTransport} from '../client/e2e/device.js'
import {formatSafetyNumber} from '../client/e2e/safety-number.js'
import {E2E_KIND, type MessageView, type SendResult} from '../protocol/frames.js'
import {type Decoded, type Draft, type MessageCodec, plainDecode} from './codec.js'
import type {ConversationState} from './model.js'
import type {CodecContext} from './session.js'

// Direct conversations end to end encrypted with the E2E library (src/client/e2e/, Signal protocol):
// every message is encrypted for every device of both users; groups stay in the clear. The device's
// keys and the plaintexts it read or sent live in the profile's e2e/ directory.

export class E2eCodec implements MessageCodec {
  readonly label = 'e2e'
  private device: Promise<E2eDevice> | undefined
  private readonly transport: E2eTransport

  constructor(
    private readonly ctx: CodecContext,
    private readonly dir: string,
  ) {
    this.transport = {
      request: ctx.request,
      on: (event, listener) => ctx.events.on(event, listener),
      off: (event, listener) => ctx.events.off(event, listener),
    }
  }

  encrypts(conv: ConversationState): boolean {
    return conv.kind === 'direct'
  }

  /** Opens the device on the first connection (registering its keys with the server), tops up prekeys after. */
  async onConnect(): Promise<void> {
    if (this.device) {
      await (await this.open()).replenish()
      return
    }
    await this.open()
  }

  async send(conv: ConversationState, draft: Draft, clientMsgId: string): Promise<SendResult> {
    // Never fall back to the clear for a conversation whose kind or members are not known yet.
    if (conv.kind === 'unknown' || (conv.kind === 'direct' && conv.members.length === 0)) {
      throw new RequestError({code: 'unavailable', message: 'conversation details not loaded yet; retrying'})
    }
    if (!this.encrypts(conv)) {
      return this.ctx.request('send', {conversation: conv.id, clientMsgId, kind: 'text', body: draft.text, ...(draft.replyTo ? {replyTo: draft.replyTo} : {})})
    }
    const device = await this.open()
    return device.send(conv.id, conv.members, draft.replyTo ? {text: draft.text, replyTo: draft.replyTo} : {text: draft.text}, clientMsgId)
  }

  async decode(message: MessageView): Promise<Decoded> {
    if (message.kind !== E2E_KIND) return plainDecode(message)
    const device = await this.open()
    const result = await device.decrypt(message)
    if (!result.ok) return {body: null, encrypted: true, undecryptable: `${result.message} (${result.code})`}
    return {body: result.text, text: result.text, encrypted: true, ...(result.replyTo === undefined ? {} : {replyTo: result.replyTo})}
  }

  async safetyNumber(peer: string): Promise<string> {
    return formatSafetyNumber(await (await this.open()).safetyNumber(peer))
  }

  close(): void {
    void this.device?.then((d) => d.close()).catch(() => {})
  }

  private open(): Promise<E2eDevice> {
    this.device ??= E2eDevice.open({dir: this.dir, client: this.transport, userId: this.ctx.auth.userId, deviceId: this.ctx.auth.deviceId}).catch((error: unknown) => {
      // Not connected yet, say: try again next time.
      this.device = undefined
      throw error
    })
    return this.device
  }
}
