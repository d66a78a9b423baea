/**
 * What the delivery helper is working on in this process, per store: a
 * session is held from the moment a handler is about to start on one of its
 * messages until that handler finished and its window write landed. Other
 * sockets of the same session wait for it; `idle()` waits for all of it (so an
 * app can close the store's connection without cutting off a write).
 */

/**
 * A session held by one socket (`owner`). Sockets waiting for it put a wake-up in `waiters` and take it out
 * again when their own socket closes first, so a hold that never ends keeps nothing of theirs alive.
 */
export interface Held { owner: string, waiters: Set<() => void> }

interface Progress { held: Map<string, Held>, idle: Set<() => void> }

const registry = new WeakMap<object, Progress>()

export function progressOf (store: object): Progress {
  let progress = registry.get(store)
  if (progress === undefined) registry.set(store, progress = { held: new Map(), idle: new Set() })
  return progress
}

/** Resolves true once nothing is held for `store` in this process, or false after `timeoutMs`. */
export function whenIdle (store: object, timeoutMs = Infinity): Promise<boolean> {
  const progress = progressOf(store)
  if (progress.held.size === 0) return Promise.resolve(true)
  return new Promise((resolve) => {
    let timer: ReturnType<typeof setTimeout> | undefined
    const done = (): void => { if (timer !== undefined) clearTimeout(timer); progress.idle.delete(done); resolve(true) }
    progress.idle.add(done)
    if (Number.isFinite(timeoutMs)) {
      timer = setTimeout(() => { progress.idle.delete(done); resolve(false) }, Math.max(0, Math.min(timeoutMs, 2_147_483_647)))
      ;(timer as { unref?: () => void }).unref?.()
    }
  })
}

/** Lets go of `key` if `mine` still holds it, and wakes whoever waits for it (or for the store to go idle). */
export function letGo (progress: Progress, key: string, mine: Held): void {
  if (progress.held.get(key) === mine) progress.held.delete(key)
  wake(mine)
  if (progress.held.size === 0) for (const done of [...progress.idle]) done()
}

/** Wakes (and forgets) every socket waiting for `held`. */
export function wake (held: Held): void {
  const waiters = [...held.waiters]
  held.waiters.clear()
  for (const waiter of waiters) waiter()
}
