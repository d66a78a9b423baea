/** The client's named timers: at most one of each runs, and `active` says whether it is still pending. */

type TimerName = 'retry' | 'handshake' | 'healthy' | 'giveUp'

export function unref (timer: unknown): void {
  (timer as { unref?: () => void }).unref?.()
}

export class Timers {
  #pending = new Map<TimerName, ReturnType<typeof setTimeout>>()

  /** `keepAlive`: the timer holds a Node process open (the retry does; waits for a socket do not). */
  start (name: TimerName, delayMs: number, fn: () => void, keepAlive = false): void {
    this.clear(name)
    const timer = setTimeout(() => { this.#pending.delete(name); fn() }, delayMs)
    if (!keepAlive) unref(timer)
    this.#pending.set(name, timer)
  }

  active (name: TimerName): boolean {
    return this.#pending.has(name)
  }

  clear (name: TimerName): void {
    const timer = this.#pending.get(name)
    if (timer !== undefined) clearTimeout(timer)
    this.#pending.delete(name)
  }

  clearAll (): void {
    for (const timer of this.#pending.values()) clearTimeout(timer)
    this.#pending.clear()
  }
}
