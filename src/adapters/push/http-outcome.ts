import type {PushOutcome} from '../../core/push/provider.js'

// The HTTP status families every provider shares: 2xx accepted, 404/410 token gone, 429/5xx retry,
// any other 4xx refused for good.

export function outcomeOfStatus(status: number, reason: string, id?: string): PushOutcome {
  if (status >= 200 && status < 300) return id ? {ok: true, id} : {ok: true}
  if (status === 404 || status === 410) return {ok: false, failure: 'expired', status, reason}
  if (status === 408 || status === 429 || status >= 500) return {ok: false, failure: 'transient', status, reason}
  return {ok: false, failure: 'rejected', status, reason}
}

/** A network failure or timeout: worth a retry. */
export function networkFailure(error: unknown): PushOutcome {
  const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
  return {ok: false, failure: 'transient', reason}
}

export async function bodyText(res: Response): Promise<string> {
  return (await res.text().catch(() => '')).slice(0, 300)
}
