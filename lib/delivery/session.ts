import type { DedupeStore } from './store.js'

/**
 * `withDelivery({ exclusive: true })`: one live incarnation per session id. In the process the helper
 * knows every socket (per store); with a store that has `lease` (Redis) the fleet does too, through a
 * lease renewed every third of `claimTtlMs` while a socket of that incarnation is open here. A client
 * that reconnects keeps its incarnation, so it is never refused by its own earlier socket.
 */

const live = new WeakMap<object, Map<string, { incarnation: string, sockets: number }>>()

export interface SessionLease { release: () => void }

/** The lease on `key` for `incarnation`, or null while another incarnation holds it. Rejects when the store cannot answer. */
export async function takeSession (store: DedupeStore, key: string, incarnation: string, onError: (err: unknown) => void): Promise<SessionLease | null> {
  let here = live.get(store)
  if (here === undefined) live.set(store, here = new Map())
  const map = here
  const entry = map.get(key)
  if (entry !== undefined && entry.incarnation !== incarnation) return null
  // Taken in the process before the store is asked, so two sockets racing here cannot both win.
  if (entry !== undefined) entry.sockets++
  else map.set(key, { incarnation, sockets: 1 })
  /** True when this was the incarnation's last socket in the process. */
  const leave = (): boolean => {
    const current = map.get(key)
    if (current === undefined || current.incarnation !== incarnation) return false
    if (--current.sockets > 0) return false
    map.delete(key)
    return true
  }
  const lease = store.lease
  if (typeof lease !== 'function') {
    let done = false
    return { release: () => { if (!done) { done = true; leave() } } }
  }
  let ok: boolean
  try {
    ok = await lease.call(store, key, incarnation)
  } catch (err) {
    leave()
    throw err
  }
  if (!ok) { leave(); return null }
  const every = Math.max(10, Math.floor((store.claimTtlMs ?? 5000) / 3))
  const renew = setInterval(() => {
    Promise.resolve().then(() => lease.call(store, key, incarnation)).then((held) => {
      if (!held) onError(new Error(`withDelivery: the live lease on session ${key} was taken by another incarnation`))
    }, onError)
  }, every)
  ;(renew as { unref?: () => void }).unref?.()
  let done = false
  return {
    release () {
      if (done) return
      done = true
      clearInterval(renew)
      if (leave() && typeof store.unlease === 'function') {
        Promise.resolve().then(() => store.unlease?.(key, incarnation)).catch(onError)
      }
    }
  }
}
