import type { IncomingMessage, ServerResponse } from 'node:http'

type Connection = { once: (event: 'close', listener: () => void) => unknown }

/**
 * The HTTP requests the close step waits for, by connection. A response
 * normally says when it is done ('close'), but not always: Node never closes
 * the response of a pipelined request that was still queued when its client
 * went away, so the connection's own 'close' ends every request it carried.
 * One listener per connection, however many requests it pipelines.
 */
export class InFlightRequests {
  readonly #byConnection = new Map<object, Set<ServerResponse>>()
  readonly #tracked = new WeakSet<ServerResponse>()
  readonly #watched = new WeakSet<object>()
  #count = 0
  #whenIdle: Array<() => void> = []

  get size (): number { return this.#count }

  /** Counts a request once, however many times it is seen; false when it already was. */
  track (request: IncomingMessage, response: ServerResponse): boolean {
    if (this.#tracked.has(response)) return false
    this.#tracked.add(response)
    // light-my-request's inject() gives a socket without events: the response alone then says when it is done.
    const socket = request.socket as unknown as Partial<Connection> | undefined
    const connection = typeof socket?.once === 'function' ? socket as Connection : undefined
    const key: object = connection ?? response
    let responses = this.#byConnection.get(key)
    if (responses === undefined) {
      responses = new Set()
      this.#byConnection.set(key, responses)
    }
    responses.add(response)
    this.#count++
    if (connection !== undefined && !this.#watched.has(connection)) {
      this.#watched.add(connection)
      connection.once('close', () => this.#connectionGone(key))
    }
    response.once('close', () => this.#done(key, response))
    return true
  }

  * responses (): Iterable<ServerResponse> {
    for (const responses of this.#byConnection.values()) yield * responses
  }

  /** Resolves once no request is in flight. */
  async idle (): Promise<void> {
    if (this.#count > 0) await new Promise<void>((resolve) => this.#whenIdle.push(resolve))
  }

  #done (key: object, response: ServerResponse): void {
    const responses = this.#byConnection.get(key)
    if (responses?.delete(response) !== true) return
    this.#count--
    if (responses.size === 0) this.#byConnection.delete(key)
    this.#notify()
  }

  #connectionGone (key: object): void {
    const responses = this.#byConnection.get(key)
    if (responses === undefined) return
    this.#byConnection.delete(key)
    this.#count -= responses.size
    this.#notify()
  }

  #notify (): void {
    if (this.#count > 0 || this.#whenIdle.length === 0) return
    const waiting = this.#whenIdle
    this.#whenIdle = []
    for (const resolve of waiting) resolve()
  }
}
