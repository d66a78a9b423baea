import { raceAbort } from '../common/abort.js'
import { ReadinessOptionError, WaitTimeoutError } from '../common/errors.js'
import { durationOption } from '../common/options.js'

/**
 * Resolves once `predicate()` holds, re-checked on every change of state (event-driven: no
 * polling). Rejects with a WaitTimeoutError after `timeoutMs`, with the signal's reason, or with
 * what the predicate throws.
 */
export function waitUntil (onChange: (listener: () => void) => () => void, predicate: () => boolean, what: string, timeoutMs: number | undefined, signal: AbortSignal | undefined): Promise<void> {
  if (predicate()) return Promise.resolve()
  const controller = new AbortController()
  const onOuterAbort = (): void => controller.abort(signal?.reason)
  signal?.addEventListener('abort', onOuterAbort, { once: true })
  let timer: NodeJS.Timeout | undefined
  if (timeoutMs !== undefined) {
    timer = setTimeout(() => controller.abort(new WaitTimeoutError(what, timeoutMs)), timeoutMs)
  }
  let unsubscribe = (): void => {}
  return raceAbort(() => new Promise<void>((resolve, reject) => {
    unsubscribe = onChange(() => {
      try {
        if (predicate()) resolve()
      } catch (err) { reject(err) }
    })
  }), controller.signal).finally(() => {
    unsubscribe()
    clearTimeout(timer)
    signal?.removeEventListener('abort', onOuterAbort)
  })
}

/** A wait's options: `timeoutMs` omitted or Infinity waits without a bound. */
export interface WaitOptions {
  timeoutMs?: number
  signal?: AbortSignal
}

/** Reads a wait's options; the 0.2 name `timeout` is refused naming `timeoutMs`. */
export function readWaitOptions (path: string, options: WaitOptions): { timeoutMs: number | undefined, signal: AbortSignal | undefined } {
  if (options !== null && typeof options === 'object' && Object.hasOwn(options, 'timeout')) {
    throw new ReadinessOptionError(`${path}.timeout`, 'was renamed to timeoutMs in 0.3.0 (the same value, in ms)')
  }
  const { timeoutMs, signal } = options ?? {}
  return { timeoutMs: waitTimeout(`${path}.timeoutMs`, timeoutMs), signal }
}

/** A wait's bound: omitted or Infinity waits without one; otherwise what a Node timer can wait. */
function waitTimeout (path: string, value: unknown): number | undefined {
  if (value === undefined || value === Infinity) return undefined
  return durationOption(path, value, 0, { allowZero: true })
}
