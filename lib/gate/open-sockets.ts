import type { IncomingMessage } from 'node:http'
import { Server } from 'node:net'
import type { Duplex } from 'node:stream'
import type { WebSocket, WebSocketServer } from 'ws'
import { installBackstop } from './backstop.js'
import { dependencyLostReason, TRY_AGAIN_LATER } from './close-reasons.js'
import { drainSockets, type DrainResult } from './drain.js'
import type { RouteGate } from './route-gate.js'

/** How long an injectWS peer gets to read its close frame before its in-memory stream is cut. */
const IN_PROCESS_CLOSE_MS = 20

export interface DrainSettings {
  closeCode: 1001 | 1012
  closeReason: string
  drainTimeoutMs: number
  drainSpreadMs: number
}

/**
 * The WebSockets the gate let through, and the ws servers they came from: counted per route so
 * shutdown and /health/websocket see them all, closed with 1013 on a lost requirement, drained on
 * shutdown.
 */
export class OpenSockets {
  /** Every ws server seen (one per @fastify/websocket registration the suite can see). */
  readonly servers = new Set<WebSocketServer>()
  /** HTTP servers other than the app's own that WebSocket upgrades came in on. */
  readonly upgradeServers = new Set<Server>()
  /** Sockets accepted only to be closed with 1013 (accept-then-close), bounded by `maxHeld`. */
  readonly refusing = new Set<WebSocket>()
  /** The WebSockets on injectWS's in-memory streams, whichever route (gated or not) they came through. */
  readonly #inMemoryClients = new WeakSet<WebSocket>()
  readonly #routeOf = new WeakMap<object, RouteGate<WebSocket>>()
  readonly #appServer: unknown
  readonly #closing: () => boolean
  readonly #settings: DrainSettings

  constructor (appServer: unknown, closing: () => boolean, settings: DrainSettings) {
    this.#appServer = appServer
    this.#closing = closing
    this.#settings = settings
  }

  /** The request's socket, once upgraded, is counted on `route`. */
  track (request: IncomingMessage, route: RouteGate<WebSocket>): void {
    this.#routeOf.set(request, route)
  }

  adopt (wss: WebSocketServer, backstop: (request: IncomingMessage) => boolean): void {
    if (this.servers.has(wss)) return
    this.servers.add(wss)
    installBackstop(wss, backstop)
    wss.on('connection', (socket: WebSocket, request: IncomingMessage) => {
      // injectWS's fake request has no socket; its WebSocket never sees its stream close by itself.
      const accepted = request.socket as (Duplex & { server?: unknown }) | undefined
      if (accepted === undefined) this.#inMemoryClients.add(socket)
      // @fastify/websocket's `options.server` listens for upgrades on a server of the app's own, which
      // only the sockets it accepted name (net.Socket#server): the close-time refuser must go there too.
      else if (accepted.server instanceof Server && accepted.server !== this.#appServer) this.upgradeServers.add(accepted.server)
      const route = this.#routeOf.get(request)
      if (route !== undefined) {
        route.open.add(socket)
        socket.once('close', () => route.open.delete(socket))
      }
      // Admitted before shutdown began, upgraded after (an async route hook): it still gets the drain's close frame.
      if (this.#closing()) void drainSockets([socket], { ...this.#drainOptions(), spread: 0 })
    })
  }

  /** closeOnLoss: the route's open sockets get 1013 "dependency lost". Returns how many. */
  closeOnLoss (route: RouteGate<WebSocket>, retryAfterSeconds: number): number {
    const reason = dependencyLostReason(retryAfterSeconds)
    const count = route.open.size
    for (const socket of route.open) socket.close(TRY_AGAIN_LATER, reason)
    route.closedOnLoss += count
    return count
  }

  /**
   * Every open socket: the ws servers' own (sockets of routes the gate never saw included) and the
   * routes'. A ws server made with `clientTracking: false` (an @fastify/websocket option) keeps no
   * `clients` set: its sockets are known through the routes alone.
   */
  all (routes: Iterable<RouteGate<WebSocket>>): Set<WebSocket> {
    const sockets = new Set<WebSocket>()
    for (const wss of this.servers) for (const socket of wss.clients ?? []) sockets.add(socket)
    for (const route of routes) for (const socket of route.open) sockets.add(socket)
    return sockets
  }

  /** Closes every open socket (spread over the window), bounded by spread + drain timeout. */
  async drain (routes: Iterable<RouteGate<WebSocket>>): Promise<DrainResult & { spread: number }> {
    const sockets = this.all(routes)
    // An in-process peer answers the close frame at once but its stream never reports closing, so
    // it is cut right after, instead of making every test's close() wait out drainTimeoutMs.
    const inProcess = [...sockets].filter((socket) => this.#inMemoryClients.has(socket))
    for (const socket of inProcess) sockets.delete(socket)
    const spread = Math.min(this.#settings.drainSpreadMs, 2 * sockets.size)
    const options = this.#drainOptions()
    const [network, local] = await Promise.all([
      drainSockets(sockets, { ...options, spread }),
      drainSockets(inProcess, { ...options, timeout: Math.min(options.timeout, IN_PROCESS_CLOSE_MS), spread: 0 })
    ])
    // Cut in-process peers did answer: they count as closed.
    return { closed: network.closed + local.closed + local.terminated, terminated: network.terminated, spread }
  }

  #drainOptions (): { code: number, reason: string, timeout: number } {
    return { code: this.#settings.closeCode, reason: this.#settings.closeReason, timeout: this.#settings.drainTimeoutMs }
  }
}
