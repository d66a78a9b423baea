import { parseRetryAfter } from './backoff.js'
import { unref } from './timers.js'

/**
 * Asks the health route when to come back, in ms: 0 when it says ready now, its Retry-After (header, or the
 * JSON body's `retryAfter` in seconds) otherwise; null when it says nothing usable or does not answer within
 * `timeoutMs`. Browsers get a hint this way that a refused upgrade (a bare 1006) cannot give them.
 */
export async function askHealth (url: string, timeoutMs: number, controller: AbortController | null): Promise<number | null> {
  const timer = setTimeout(() => controller?.abort(), timeoutMs)
  unref(timer)
  try {
    const res = await fetch(url, { signal: controller?.signal })
    if (res.ok) { void res.body?.cancel(); return 0 }
    const header = parseRetryAfter(res.headers.get('retry-after'))
    if (header !== null) { void res.body?.cancel(); return header }
    const body = await res.json().catch(() => null) as { retryAfter?: unknown } | null
    return typeof body?.retryAfter === 'number' && Number.isFinite(body.retryAfter) && body.retryAfter >= 0 ? body.retryAfter * 1000 : null
  } catch {
    return null
  } finally {
    clearTimeout(timer)
  }
}
