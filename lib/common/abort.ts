import { toError } from './errors.js'

/** Resolves with the work, or rejects as soon as the signal aborts, whichever is first. */
export function raceAbort<T> (work: () => T | PromiseLike<T>, signal: AbortSignal): Promise<Awaited<T>> {
  return new Promise<Awaited<T>>((resolve, reject) => {
    if (signal.aborted) { reject(toError(signal.reason)); return }
    const onAbort = (): void => reject(toError(signal.reason))
    signal.addEventListener('abort', onAbort, { once: true })
    new Promise<Awaited<T>>((resolveWork) => resolveWork(work() as Awaited<T>)).then(
      (value) => { signal.removeEventListener('abort', onAbort); resolve(value) },
      (err: unknown) => { signal.removeEventListener('abort', onAbort); reject(toError(err)) }
    )
  })
}
