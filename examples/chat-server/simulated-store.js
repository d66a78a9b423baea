/**
 * Stands in for the chat's database/Redis on a fresh machine: it "connects"
 * after a warm-up, like a dependency in a cold start, and refuses work before.
 */
export class SimulatedStore {
  #readyAt
  #messages = new Map()

  constructor (warmupMs) {
    this.#readyAt = Date.now() + warmupMs
  }

  /** The instant (ms since the epoch) the store starts answering. */
  get readyAt () {
    return this.#readyAt
  }

  isUp () {
    return Date.now() >= this.#readyAt
  }

  async ping (signal) {
    signal?.throwIfAborted()
    if (!this.isUp()) throw new Error(`store warming up (${this.#readyAt - Date.now()} ms left)`)
  }

  append (room, message) {
    if (!this.isUp()) throw new Error('store not ready')
    const list = this.#messages.get(room) ?? []
    list.push(message)
    this.#messages.set(room, list)
    return list.length
  }
}
