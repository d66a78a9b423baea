import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import type { WebSocketServer } from 'ws'

/**
 * Every WebSocket upgrade of @fastify/websocket, from whatever encapsulation
 * context, ends in `wss.handleUpgrade()`, which asks `wss.shouldHandle(req)`
 * before it completes the handshake and long before the app's handler runs.
 * ws documents that method as the one to override. The gate's route hooks
 * mark the requests they admitted; an upgrade that reaches this point
 * unmarked came through a route the gate never saw (declared before the suite,
 * in a sibling plugin, with the suite encapsulated), and `decide` gets the
 * last word on it. Returning false makes ws abort the handshake: the handler
 * never runs.
 */
export function installBackstop (wss: WebSocketServer, decide: (request: IncomingMessage) => boolean): void {
  if (guarded.has(wss)) return
  guarded.add(wss)
  const original = wss.shouldHandle.bind(wss)
  wss.shouldHandle = (request: IncomingMessage): boolean => original(request) && decide(request)
}

const guarded = new WeakSet<WebSocketServer>()

/** Paths named in "not gated" logs, so a storm on one misdeclared route logs once. */
const MAX_REPORTED_PATHS = 100

export interface BackstopReadiness {
  readonly closing: boolean
  meets: (requires?: readonly string[]) => boolean
}

export interface BackstopLog {
  warn: (details: object, message: string) => void
  error: (details: object, message: string) => void
}

/**
 * What the backstop decides with: the upgrades the route hooks let through, and the app's state for
 * the rest. An upgrade no hook admitted is let through only while the app is fully ready (the default
 * requirements), refused otherwise, and its route is named to the developer, once.
 */
export class Backstop {
  /** Raw requests the route hooks let through (or that opted out). */
  readonly #admitted = new WeakSet<object>()
  /** Upgrades accept-then-close completes itself, to close them with 1013. */
  readonly #completing = new WeakSet<object>()
  readonly #reportedPaths = new Set<string>()
  readonly #readiness: BackstopReadiness
  readonly #log: BackstopLog
  readonly #refuse: (socket: Duplex, state: 'draining' | 'ungated-route') => void

  constructor (readiness: BackstopReadiness, log: BackstopLog, refuse: (socket: Duplex, state: 'draining' | 'ungated-route') => void) {
    this.#readiness = readiness
    this.#log = log
    this.#refuse = refuse
  }

  admit (request: IncomingMessage): void {
    this.#admitted.add(request)
  }

  completing (request: IncomingMessage): void {
    this.#completing.add(request)
  }

  readonly decide = (request: IncomingMessage): boolean => {
    if (this.#completing.has(request)) return true
    const path = (request.url ?? '/').split('?')[0] ?? '/'
    if (this.#readiness.closing) {
      this.#refuseRaw(request, 'draining')
      return false
    }
    if (this.#admitted.has(request)) return true
    const ready = this.#readiness.meets(undefined)
    if (!this.#reportedPaths.has(path) && this.#reportedPaths.size < MAX_REPORTED_PATHS) {
      this.#reportedPaths.add(path)
      const message = `fastify-readiness: the WebSocket route ${path} is not gated: it was declared where the gate cannot see it (before fastify-readiness was registered, in a plugin registered before it, or outside the context the suite was registered in, e.g. the suite inside a plugin not wrapped in fastify-plugin). ${ready ? 'It is let through only while the whole app is ready' : 'Upgrades on it are refused with 503 until the whole app is ready'}. Fix: register fastify-readiness at the root, awaited, before your routes and route plugins (docs/configuration.md, "Where to register").`
      if (ready) this.#log.warn({ route: path }, message)
      else this.#log.error({ route: path }, message)
    }
    if (ready) return true
    this.#refuseRaw(request, 'ungated-route')
    return false
  }

  /** ws answers a refused handshake with 400; answer 503 + Retry-After first where the socket is at hand. */
  #refuseRaw (request: IncomingMessage, state: 'draining' | 'ungated-route'): void {
    const socket = request.socket as Duplex | undefined
    if (socket === undefined || socket === null) return
    this.#refuse(socket, state)
  }
}
