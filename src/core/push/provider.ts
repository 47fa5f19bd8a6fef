import type {Notification} from './summary.js'

// The one interface every push provider adapter implements (src/adapters/push/*).

export const PUSH_PROVIDERS = ['webpush', 'fcm', 'apns', 'log'] as const
export type PushProviderName = (typeof PUSH_PROVIDERS)[number]

/** A Web Push subscription as the browser's PushManager returns it. */
export interface WebPushSubscription {
  endpoint: string
  keys: {p256dh: string; auth: string}
}

/** Where a device receives pushes. */
export interface PushTarget {
  provider: PushProviderName
  /** FCM registration token, APNs device token, or the Web Push endpoint. */
  token: string
  subscription?: WebPushSubscription
}

export type PushOutcome =
  /** The provider accepted the notification (`id`: its message id, when it gives one). */
  | {ok: true; id?: string}
  /**
   * expired: the token is dead (expired subscription, unregistered app) and is removed;
   * rejected: the provider refuses this request for good (retrying cannot help) and it is dead-lettered;
   * transient: network, 429 or 5xx, retried with backoff.
   */
  | {ok: false; failure: 'expired' | 'rejected' | 'transient'; status?: number; reason: string}

export interface PushProvider {
  readonly name: PushProviderName
  send(target: PushTarget, notification: Notification, data: Record<string, string>): Promise<PushOutcome>
  close?(): Promise<void>
}
