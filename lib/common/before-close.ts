/**
 * Work a socket's owner must finish before the suite's drain sends that socket its close frame: the
 * delivery helper lets a running handler finish and sends its ack, so a graceful restart re-sends
 * nothing that was handled. One hook per socket; the drain awaits it within a bound (lib/gate/drain.ts).
 */

type Settle = () => Promise<void> | void

const hooks = new WeakMap<object, Settle>()

/** Registers `fn` for `socket` (replacing an earlier one); returns a function that removes it. */
export function beforeDrainClose (socket: object, fn: Settle): () => void {
  hooks.set(socket, fn)
  return () => { if (hooks.get(socket) === fn) hooks.delete(socket) }
}

/**
 * null when `socket` has no hook (the caller closes at once, as before); otherwise a promise that resolves
 * once the hook settled (a throw counts as settled) or after `timeoutMs`, whichever comes first.
 */
export function settleBeforeClose (socket: object, timeoutMs: number): Promise<void> | null {
  const fn = hooks.get(socket)
  if (fn === undefined) return null
  hooks.delete(socket)
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, Math.max(0, Math.min(timeoutMs, 2_147_483_647)))
    ;(timer as { unref?: () => void }).unref?.()
    const done = (): void => { clearTimeout(timer); resolve() }
    try {
      Promise.resolve(fn()).then(done, done)
    } catch {
      done()
    }
  })
}
