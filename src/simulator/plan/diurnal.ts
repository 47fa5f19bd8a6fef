import type {PlanInputs} from './inputs.js'

// A day in virtual time: every region follows the same local-time profile (peak 7–9 PM, the seed's "peak
// usage hours"), shifted by its UTC offset and weighted by its share of users; one step per minute.

/** Relative activity per local hour 0..23 (mean ≈ 0.9; normalised before use). */
export const LOCAL_PROFILE: readonly number[] = [
  0.55, 0.35, 0.22, 0.15, 0.12, 0.14, 0.25, 0.45, 0.7, 0.85, 0.95, 1.0, 1.05, 1.05, 1.0, 1.0, 1.05, 1.15, 1.3, 1.5, 1.75, 1.8, 1.5, 1.0,
]

export interface VirtualDay {
  /** Global activity per UTC hour, mean 1 (hour h = the mean over its 60 minutes). */
  hourly: number[]
  /** UTC hour with the most traffic, and its activity ÷ the daily mean. */
  peakUtcHour: number
  peakFactor: number
  troughUtcHour: number
  troughFactor: number
  /** The minute (0..1439, UTC) of the single busiest minute and its factor. */
  peakMinute: number
  peakMinuteFactor: number
}

export function simulateDay(regions: PlanInputs['regions'], profile: readonly number[] = LOCAL_PROFILE): VirtualDay {
  const totalShare = regions.reduce((a, r) => a + r.share, 0)
  if (totalShare <= 0) throw new Error('regions: the shares add up to 0')
  const profileMean = profile.reduce((a, v) => a + v, 0) / profile.length
  const minutes: number[] = []
  for (let m = 0; m < 1440; m++) {
    let load = 0
    for (const r of regions) load += (r.share / totalShare) * at(profile, m / 60 + r.utcOffsetHours) / profileMean
    minutes.push(load)
  }
  const mean = minutes.reduce((a, v) => a + v, 0) / minutes.length
  const normalised = minutes.map((v) => v / mean)
  const hourly = Array.from({length: 24}, (_, h) => normalised.slice(h * 60, h * 60 + 60).reduce((a, v) => a + v, 0) / 60)
  const peakUtcHour = argmax(hourly)
  const troughUtcHour = argmax(hourly.map((v) => -v))
  const peakMinute = argmax(normalised)
  return {
    hourly,
    peakUtcHour,
    peakFactor: hourly[peakUtcHour]!,
    troughUtcHour,
    troughFactor: hourly[troughUtcHour]!,
    peakMinute,
    peakMinuteFactor: normalised[peakMinute]!,
  }
}

/** The profile at a fractional local hour (wrapping around midnight), linearly interpolated. */
function at(profile: readonly number[], hour: number): number {
  const h = ((hour % 24) + 24) % 24
  const i = Math.floor(h)
  const frac = h - i
  return profile[i]! * (1 - frac) + profile[(i + 1) % 24]! * frac
}

function argmax(values: readonly number[]): number {
  let best = 0
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i
  return best
}
