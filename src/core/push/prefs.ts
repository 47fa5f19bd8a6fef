import {z} from 'zod'

// Per-device notification preferences (devices.notify_prefs), set with notify.prefs.

const clock = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'a time of day as HH:MM')

export const notifyPrefsSchema = z.object({
  /** false: this device gets no push notifications at all. */
  enabled: z.boolean().default(true),
  /** false: notifications say "New message" instead of showing the text. */
  previews: z.boolean().default(true),
  /** Inside this daily window notifications are delivered silently (no sound, low priority). */
  quietHours: z
    .object({start: clock, end: clock, utcOffsetMin: z.number().int().min(-14 * 60).max(14 * 60).default(0)})
    .nullable()
    .default(null),
})
export type NotifyPrefs = z.output<typeof notifyPrefsSchema>
export type NotifyPrefsPatch = Partial<z.input<typeof notifyPrefsSchema>>

export const DEFAULT_PREFS: NotifyPrefs = notifyPrefsSchema.parse({})

/** Stored preferences (possibly partial or from an older version) with defaults filled in. */
export function readPrefs(stored: unknown): NotifyPrefs {
  const parsed = notifyPrefsSchema.safeParse(stored ?? {})
  return parsed.success ? parsed.data : DEFAULT_PREFS
}

/** True when `now` falls inside the device's quiet hours (a window may wrap midnight). */
export function inQuietHours(prefs: NotifyPrefs, now: number): boolean {
  const q = prefs.quietHours
  if (!q) return false
  const minutes = (((Math.floor(now / 60_000) + q.utcOffsetMin) % 1440) + 1440) % 1440
  const start = toMinutes(q.start)
  const end = toMinutes(q.end)
  if (start === end) return false
  return start < end ? minutes >= start && minutes < end : minutes >= start || minutes < end
}

function toMinutes(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number)
  return h! * 60 + m!
}
