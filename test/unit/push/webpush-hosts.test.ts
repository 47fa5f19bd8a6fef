import {describe, expect, it} from 'vitest'

import {WEBPUSH_SERVICE_HOSTS, pushConfigSchema} from '../../../src/server/push/config.js'
import {isPushServiceHost} from '../../../src/server/push/device-ops.js'

describe('Web Push endpoint hosts', () => {
  it('accepts the browsers push services and their subdomains', () => {
    expect(isPushServiceHost('fcm.googleapis.com', WEBPUSH_SERVICE_HOSTS)).toBe(true)
    expect(isPushServiceHost('web.push.apple.com', WEBPUSH_SERVICE_HOSTS)).toBe(true)
    expect(isPushServiceHost('wns2-par02p.notify.windows.com', WEBPUSH_SERVICE_HOSTS)).toBe(true)
    expect(isPushServiceHost('UPDATES.push.services.mozilla.com.', WEBPUSH_SERVICE_HOSTS)).toBe(true)
  })

  it('refuses anything else, including look-alike suffixes and internal addresses', () => {
    expect(isPushServiceHost('evilfcm.googleapis.com.attacker.net', WEBPUSH_SERVICE_HOSTS)).toBe(false)
    expect(isPushServiceHost('notpush.apple.com.evil', WEBPUSH_SERVICE_HOSTS)).toBe(false)
    expect(isPushServiceHost('xpush.apple.com', WEBPUSH_SERVICE_HOSTS)).toBe(false)
    expect(isPushServiceHost('169.254.169.254', WEBPUSH_SERVICE_HOSTS)).toBe(false)
    expect(isPushServiceHost('localhost', WEBPUSH_SERVICE_HOSTS)).toBe(false)
    expect(isPushServiceHost('fcm.googleapis.com', [])).toBe(false)
  })

  it('defaults the allow-list when VAPID keys are configured', () => {
    const config = pushConfigSchema.parse({webpush: {publicKey: 'p', privateKey: 'k', subject: 'mailto:ops@example.com'}})
    expect(config.webpush?.allowedHosts).toEqual([...WEBPUSH_SERVICE_HOSTS])
  })
})
