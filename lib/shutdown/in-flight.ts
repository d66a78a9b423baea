import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'

/** Node publishes every HTTP/1 request here before emitting it, and every response once it has finished. */
const REQUEST_START = 'http.server.request.start'
const RESPONSE_FINISH = 'http.server.response.finish'

interface RequestStart { request: IncomingMessage, response: ServerResponse, socket: Socket, server: Server }

/**
 * The HTTP requests the close step waits for: per connection of this app, its last response while that
 * response is in flight, and nothing once it has finished. That is all a drain needs: responses on one
 * connection finish in order, so the last one in flight is the connection's in-flight work, and a
 * connection that closes takes its requests with it (Node never closes the response of a pipelined
 * request whose client left). No listener per request, no hook: the requests a drain starts with are
 * read off this map, and only from then on is each request looked at (Connection: close).
 *
 * Issue 24: holding each connection's last response until its next request cost 2.3k instructions a
 * request (96 % of plain Fastify's count, bench section 19): a finished response, kept alive by the map,
 * survived young-generation collections and was promoted. Dropped when it finishes, the entry holds only
 * what the server holds anyway, at the price of a second channel message: the two channels cost about
 * 1.2k instructions a request on Node 20 with subscribers that do nothing (one: 0.4k), the floor of this
 * design. Tracking nothing until a drain begins would cost nothing, but the responses in flight when it
 * begins (which must get Connection: close, and which the close waits for) are then reachable only through
 * Node's private `socket._httpMessage`.
 *
 * Read from Node's diagnostics channels rather than the server's events: the other servers of
 * `listen({ host: 'localhost' })`, which Fastify keeps to itself, publish there too (they share the
 * app's request handler, which is how they are told from another app's servers in the same process).
 * Requests are seen when Node parses them, before any hook: one waiting in an app's own async onRequest
 * hook is in flight too.
 */
export class InFlightRequests {
  readonly #latest = new Map<Socket, ServerResponse | null>()
  readonly #servers = new WeakMap<object, boolean>()
  readonly #appServer: object
  readonly #handler: unknown
  #onDrainRequest: ((response: ServerResponse) => void) | null = null
  #subscribed = false

  constructor (appServer: { listeners: (event: 'request') => unknown[] }) {
    this.#appServer = appServer
    this.#handler = appServer.listeners('request')[0]
  }

  /** Starts reading requests; `stop()` ends it (the app's onClose). */
  start (): void {
    if (this.#subscribed) return
    this.#subscribed = true
    subscribe(REQUEST_START, this.#onRequest)
    subscribe(RESPONSE_FINISH, this.#onFinish)
  }

  stop (): void {
    if (!this.#subscribed) return
    this.#subscribed = false
    unsubscribe(REQUEST_START, this.#onRequest)
    unsubscribe(RESPONSE_FINISH, this.#onFinish)
  }

  /** From now on every request's response goes to `onRequest`, and so does each one in flight now. */
  drain (onRequest: (response: ServerResponse) => void): void {
    this.#onDrainRequest = onRequest
    for (const response of this.#pending()) onRequest(response)
  }

  /** Connections with a request in flight (a pipelining one counts once). */
  get size (): number { return this.#pending().length }

  /** Resolves once no request is in flight, including those that came while waiting. */
  async idle (): Promise<void> {
    for (let pending = this.#pendingEntries(); pending.length > 0; pending = this.#pendingEntries()) {
      await Promise.all(pending.map(async ([socket, response]) => await new Promise<void>((resolve) => {
        response.once('close', resolve)
        socket.once('close', resolve)
      })))
    }
  }

  readonly #onRequest = (message: unknown): void => {
    const { response, socket, server } = message as RequestStart
    if ((server !== this.#appServer && !this.#isMine(server)) || socket === undefined || socket === null) return
    // One lookup per request: the map grows only with a connection's first request.
    const known = this.#latest.size
    this.#latest.set(socket, response)
    if (this.#latest.size !== known) socket.once('close', () => this.#latest.delete(socket))
    this.#onDrainRequest?.(response)
  }

  readonly #onFinish = (message: unknown): void => {
    const { response, socket } = message as RequestStart
    // Only the connection's last response clears it: a pipelined one after it is still in flight.
    if (socket !== undefined && socket !== null && this.#latest.get(socket) === response) this.#latest.set(socket, null)
  }

  #isMine (server: Server): boolean {
    if (server === this.#appServer) return true
    let mine = this.#servers.get(server)
    if (mine === undefined) {
      mine = typeof server?.listeners === 'function' && (server.listeners('request') as unknown[]).includes(this.#handler)
      this.#servers.set(server, mine)
    }
    return mine
  }

  #pendingEntries (): Array<[Socket, ServerResponse]> {
    const pending: Array<[Socket, ServerResponse]> = []
    for (const [socket, response] of this.#latest) if (response !== null && !response.writableFinished && !response.destroyed) pending.push([socket, response])
    return pending
  }

  #pending (): ServerResponse[] {
    return this.#pendingEntries().map(([, response]) => response)
  }
}
