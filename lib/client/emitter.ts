/**
 * A few lines of event emitter that run in browsers and Node alike (no node:events in the browser build).
 * `Events` maps each event to its listener's arguments, without an index signature: an unknown event name
 * is a type error.
 */
export class Emitter<Events extends { [E in keyof Events]: unknown[] }> {
  #listeners = new Map<keyof Events, Set<(...args: any[]) => void>>()

  on<E extends keyof Events> (event: E, listener: (...args: Events[E]) => void): this {
    let set = this.#listeners.get(event)
    if (set === undefined) this.#listeners.set(event, set = new Set())
    set.add(listener)
    return this
  }

  off<E extends keyof Events> (event: E, listener: (...args: Events[E]) => void): this {
    this.#listeners.get(event)?.delete(listener)
    return this
  }

  protected emit<E extends keyof Events> (event: E, ...args: Events[E]): void {
    for (const listener of [...(this.#listeners.get(event) ?? [])]) listener(...args)
  }
}
