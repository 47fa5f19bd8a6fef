import type {Clock, Sql} from '../../core/ports.js'
import type {PushProviderName, PushTarget} from '../../core/push/provider.js'
import {assertOwnDevice, listDevices, logoutDevice, renameDevice, updatePrefs} from '../../core/store/devices.js'
import {listPushHistory} from '../../core/store/push-history.js'
import {registerPushToken, unregisterPushToken} from '../../core/store/push-tokens.js'
import {MsgrError} from '../../errors.js'
import type {OpArgs, Request} from '../../protocol/frames.js'
import type {Identity} from '../gateway/connection.js'

// The device and push ops (docs/push.md). Devices are created by the OTP login; these list, rename and
// log them out, register where pushes go, and read per-device preferences and notification history.

export type DeviceOpName = 'device.list' | 'device.rename' | 'device.logout' | 'push.register' | 'push.unregister' | 'notify.prefs' | 'push.history'
export type DeviceRequest = Extract<Request, {op: DeviceOpName}>

export interface DeviceOpsContext {
  sql: Sql
  clock: Clock
  /** Providers this server can deliver through (push.register refuses the others). */
  providers: readonly PushProviderName[]
  /** Development only: Web Push endpoints may be plain http:// (local test endpoints). */
  allowHttpEndpoints?: boolean
  /** Push service hosts a Web Push endpoint must belong to (subdomains included); ignored with allowHttpEndpoints. */
  webpushHosts?: readonly string[]
  /** Closes every open socket of a logged-out device, on whichever gateway it is. */
  closeDevice(user: string, device: string): Promise<void>
}

export async function handleDeviceOp(ctx: DeviceOpsContext, who: Identity, request: DeviceRequest): Promise<object> {
  switch (request.op) {
    case 'device.list':
      return {devices: await listDevices(ctx.sql, who.userId, who.deviceId)}
    case 'device.rename':
      await renameDevice(ctx.sql, who.userId, request.args.device ?? who.deviceId, request.args.name)
      return {}
    case 'device.logout': {
      const device = request.args.device ?? who.deviceId
      await logoutDevice(ctx.sql, who.userId, device, new Date(ctx.clock.now()))
      // The database already refuses the device's tokens; open sockets go too (best effort: they also die at token expiry).
      await ctx.closeDevice(who.userId, device).catch(() => {})
      return {}
    }
    case 'push.register':
      return register(ctx, who, request.args)
    case 'push.unregister':
      await unregisterPushToken(ctx.sql, who.deviceId)
      return {}
    case 'notify.prefs': {
      const {enabled, previews, quietHours} = request.args
      return {device: who.deviceId, prefs: await updatePrefs(ctx.sql, who.userId, who.deviceId, {enabled, previews, quietHours})}
    }
    case 'push.history': {
      const device = request.args.device ?? who.deviceId
      if (device !== who.deviceId) await assertOwnDevice(ctx.sql, who.userId, device)
      return {device, history: await listPushHistory(ctx.sql, device, request.args.limit)}
    }
    default: {
      const unreachable: never = request
      throw new MsgrError('unknown_op', `unknown op ${(unreachable as {op: string}).op}`)
    }
  }
}

async function register(ctx: DeviceOpsContext, who: Identity, args: OpArgs<'push.register'>): Promise<object> {
  if (!ctx.providers.includes(args.provider)) {
    const on = ctx.providers.length > 0 ? ctx.providers.join(', ') : 'none'
    throw new MsgrError('push_provider_unavailable', `push provider ${args.provider} is not configured on this server (configured: ${on})`)
  }
  if (args.provider === 'webpush' && !ctx.allowHttpEndpoints && !args.subscription.endpoint.startsWith('https:')) {
    throw new MsgrError('invalid_request', 'subscription.endpoint must be an https:// URL')
  }
  if (args.provider === 'webpush' && !ctx.allowHttpEndpoints && !isPushServiceHost(new URL(args.subscription.endpoint).hostname, ctx.webpushHosts ?? [])) {
    throw new MsgrError('invalid_request', `subscription.endpoint must be on a configured push service (${(ctx.webpushHosts ?? []).join(', ') || 'none'}; see --webpush-hosts)`)
  }
  const target: PushTarget =
    args.provider === 'webpush' ? {provider: 'webpush', token: args.subscription.endpoint, subscription: args.subscription} : {provider: args.provider, token: args.token}
  await registerPushToken(ctx.sql, who.userId, who.deviceId, target)
  return {}
}

/** True when `host` is one of `allowed` or a subdomain of one. */
export function isPushServiceHost(host: string, allowed: readonly string[]): boolean {
  const h = host.toLowerCase().replace(/\.$/, '')
  return allowed.some((a) => h === a || h.endsWith(`.${a}`))
}
