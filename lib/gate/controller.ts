import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import type { WebSocket, WebSocketServer } from 'ws'
import { ReadinessOptionError } from '../common/errors.js'
import type { ensureReadiness } from '../core/app.js'
import { Backstop, type BackstopLog } from './backstop.js'
import { notAdmittedReason, TRY_AGAIN_LATER } from './close-reasons.js'
import { watchHeldSocket } from './held-socket.js'
import type { GateSettings } from './options.js'
import { OpenSockets } from './open-sockets.js'
import { GateRegistry, type RouteGate, type RouteGateOptions, type WebSocketReadiness } from './route-gate.js'
import { refusalOf, refuseOnUpgradeSocket, type RefusalState } from './upgrade-response.js'
import { connectionView } from './view.js'

/** The part of the readiness state the gate reads and reports to. */
export type GateReadiness = Pick<ReturnType<typeof ensureReadiness>,
  'meets' | 'missing' | 'isReady' | 'draining' | 'closing' | 'onChange' | 'emit' | 'suggestedHoldMs' | 'retryAfterSeconds' | 'assertKnown'>

export interface GateLog extends BackstopLog {
  info: (details: object, message: string) => void
}

/** One upgrade on a gated WebSocket route, as the route hook hands it over. */
export interface Upgrade {
  request: IncomingMessage
  /** The upgrade socket (@fastify/websocket's, for real upgrades and injectWS alike). */
  socket: Duplex
  /** An injectWS caller (a test): no client that could come back later, and a stream that never closes by itself. */
  inMemory: boolean
  /** The ws server that would complete the handshake (accept-then-close). */
  wss: () => WebSocketServer | undefined
  /** Lets the request go on to @fastify/websocket and the handler. */
  proceed: () => void
  /** Takes the request away from Fastify (its socket is answered here). */
  takeOver: () => void
}

/** One request on a plain HTTP route gated with `readiness: { gate: true }`. */
export interface GatedRequest {
  /** The client connection, when it can be watched (light-my-request's has no events); under HTTP/2, the stream's. */
  connection: Duplex | undefined
  /** What `maxHeldPerConnection` counts per: the TCP socket, or the HTTP/2 session all of its streams share. */
  connectionKey: object | undefined
  proceed: () => void
  takeOver: () => void
  respond: (status: number, headers: Record<string, string>, body: object) => void
}

const EMPTY_HEAD = Buffer.alloc(0)

/**
 * The gate's decisions: per upgrade, admit, hold or refuse (and how); the start checks; the drain. Fastify is only the hooks' business.
 */
export class GateController {
  readonly registry: GateRegistry<WebSocket>
  readonly sockets: OpenSockets
  /** The last word on upgrades no route hook of the gate admitted. */
  readonly backstop: Backstop
  /** A WebSocket route was declared where the gate saw it. */
  sawWebSocketRoute = false
  readonly #readiness: GateReadiness
  readonly #settings: GateSettings
  readonly #log: GateLog
  readonly #requirementChecks: Array<{ path: string, requires: string[] }> = []

  constructor (readiness: GateReadiness, settings: GateSettings, log: GateLog, appServer: unknown) {
    this.#readiness = readiness
    this.#settings = settings
    this.#log = log
    this.backstop = new Backstop(readiness, log, (socket, state) => { this.refuseUpgrade(null, socket, state) })
    this.sockets = new OpenSockets(appServer, () => readiness.closing, settings)
    this.registry = new GateRegistry<WebSocket>(readiness, settings.maxHeld, (route) => {
      const count = this.sockets.closeOnLoss(route, readiness.retryAfterSeconds())
      readiness.emit('gateClosedOnLoss', route.key, count)
    }, settings.maxHeldPerConnection, settings.releaseBatch)
  }

  /** `path` names the route's `readiness` option, for the requirement check at ready. */
  addRoute (url: string, options: RouteGateOptions, path: string): RouteGate<WebSocket> {
    if (options.requires !== undefined) this.#requirementChecks.push({ path: `${path}.requires`, requires: options.requires })
    return this.registry.add(url, options)
  }

  adopt (wss: WebSocketServer): void {
    this.sockets.adopt(wss, this.backstop.decide)
  }

  /** Let through without a decision (an opted-out route, an upgrade on a plain route): the backstop must not refuse it. */
  exempt (request: IncomingMessage): void {
    this.backstop.admit(request)
  }

  upgrade (route: RouteGate<WebSocket>, upgrade: Upgrade): void {
    const { socket } = upgrade
    const readiness = this.#readiness
    if (readiness.closing) { this.refuseUpgrade(route, socket, 'draining'); upgrade.takeOver(); return }
    if (route.met) { this.#admit(route, upgrade, 0); upgrade.proceed(); return }
    // An in-process injectWS caller (a test) has no client that could come back later: it is held
    // whatever the mode, bounded by the hold timeout, and the handler still never runs early.
    const mode = upgrade.inMemory ? 'hold' : route.options.mode
    if (mode === 'reject') { upgrade.takeOver(); this.refuseUpgrade(route, socket, 'not-ready'); return }
    if (mode === 'accept-then-close') { upgrade.takeOver(); this.#acceptThenClose(route, upgrade); return }
    const heldSince = performance.now()
    const watch = upgrade.inMemory ? null : watchHeldSocket(socket)
    const held = this.registry.hold(route, this.#holdTimeoutOf(route), socket)
    const release = watch?.onViolation(held.cancel)
    socket.once('close', held.cancel)
    socket.once('end', held.cancel)
    void held.outcome.then((outcome) => {
      socket.removeListener('close', held.cancel)
      socket.removeListener('end', held.cancel)
      release?.()
      if (outcome === 'ready') { this.#admit(route, upgrade, performance.now() - heldSince); upgrade.proceed(); return }
      upgrade.takeOver()
      if (outcome === 'gone') socket.destroy()
      else this.refuseUpgrade(route, socket, outcome)
    })
  }

  http (route: RouteGate<WebSocket>, request: GatedRequest): void {
    const readiness = this.#readiness
    if (route.met && !readiness.closing) { readiness.emit('gateAdmitted', route.key, 0); request.proceed(); return }
    if (route.options.mode !== 'hold' || readiness.closing) { this.#refuseHttp(route, request, readiness.closing ? 'draining' : 'not-ready'); return }
    const watchable = request.connection
    const heldSince = performance.now()
    const held = this.registry.hold(route, this.#holdTimeoutOf(route), request.connectionKey)
    // Only a pending hold watches its socket: a pipelining client refused at once ('full') must not add
    // a 'close' listener per request (1,000 of them tripped MaxListenersExceededWarning).
    if (held.pending) watchable?.once('close', held.cancel)
    void held.outcome.then((outcome) => {
      watchable?.removeListener('close', held.cancel)
      if (outcome === 'ready') { readiness.emit('gateAdmitted', route.key, performance.now() - heldSince); request.proceed() } else if (outcome === 'gone') request.takeOver() // the client left: nothing to answer
      else this.#refuseHttp(route, request, outcome)
    })
  }

  /** 503 + Retry-After on the upgrade socket; `route` is null where no gated route is known. */
  refuseUpgrade (route: RouteGate<WebSocket> | null, socket: Duplex, state: RefusalState): void {
    if (route !== null) route.refused++
    this.#readiness.emit('gateRefused', route?.key ?? 'unknown', refusalOf(state))
    refuseOnUpgradeSocket(socket, state, this.#readiness.retryAfterSeconds())
  }

  /**
   * Fastify has closed its routes by close time and would answer an arriving upgrade with a 503 that
   * leaves the socket open (it is detached from Node's HTTP machinery): this 'upgrade' listener answers
   * first, and closes. Later listeners (@fastify/websocket's) still run: Node's ServerResponse buffers
   * what Fastify writes to a socket that has ended, so the client reads this response only.
   */
  readonly refuseWhileClosing = (_request: IncomingMessage, socket: Duplex): void => {
    this.refuseUpgrade(null, socket, 'draining')
  }

  /** `app.readiness.websocket`. */
  view (): WebSocketReadiness {
    return connectionView(this.registry, this.#readiness, this.#settings.drainSpreadMs + this.#settings.drainTimeoutMs)
  }

  /**
   * At ready: every route's requirements name known phases and probes, and the gate can see the ws
   * server(s) that serve the app's upgrades; then it starts following the readiness state.
   */
  start (rootServer: WebSocketServer | undefined, upgradeListeners: number): void {
    for (const { path, requires } of this.#requirementChecks) this.#readiness.assertKnown(path, requires)
    if (rootServer !== undefined) this.adopt(rootServer)
    const guarded = this.sockets.servers.size
    if (guarded > 0 && upgradeListeners > guarded) {
      // Each @fastify/websocket listens once; the gate guards those it saw. Another listener may be
      // another WebSocket server (HMR, graphql-ws), not the gate's, or a second @fastify/websocket whose
      // routes were declared where the gate cannot see them: only the app can tell, so say it.
      this.#log.warn({ upgradeListeners, guarded }, `fastify-readiness: this server has ${upgradeListeners} 'upgrade' listeners but the gate guards ${guarded} @fastify/websocket server(s). If another one is a @fastify/websocket registered in a plugin before the suite, its routes run ungated: register @fastify/websocket once, at the root (docs/configuration.md, "Where to register"). Other WebSocket servers on this server are not the gate's to guard.`)
    }
    if (guarded === 0 && (this.sawWebSocketRoute || upgradeListeners > 0)) {
      throw new ReadinessOptionError('websocket',
        'cannot see the @fastify/websocket that serves this app\'s upgrades: it is registered inside a plugin that does not share it ' +
        '(not wrapped in fastify-plugin), so upgrades could reach handlers ungated. Register @fastify/websocket at the root (or with fastify-plugin), ' +
        'or pass websocket: false if the upgrades on this server are not the suite\'s to gate (another WebSocket server).')
    }
    this.registry.start()
  }

  /** The shutdown closer: startClosing() has run, so held upgrades are being answered 503 and new ones refused. */
  async drain (): Promise<void> {
    const result = await this.sockets.drain(this.registry.routes.values())
    this.registry.stop()
    if (result.closed + result.terminated > 0) {
      const { closeCode } = this.#settings
      this.#readiness.emit('socketsDrained', closeCode, result.closed, result.terminated)
      this.#log.info({ closed: result.closed, terminated: result.terminated, closeCode, spreadMs: result.spread }, 'websocket connections drained')
    }
  }

  #holdTimeoutOf (route: RouteGate<WebSocket>): number {
    return route.options.holdTimeoutMs ?? this.#readiness.suggestedHoldMs(this.#settings.maxHoldTimeoutMs)
  }

  #admit (route: RouteGate<WebSocket>, upgrade: Upgrade, heldMs: number): void {
    route.accepted++
    this.backstop.admit(upgrade.request)
    this.sockets.track(upgrade.request, route)
    if (upgrade.inMemory) {
      // ws ends its side once the closing handshake is done and then waits for 'close', which an
      // in-memory stream never emits by itself: without this, every close() of a test app would
      // wait out the drain timeout for each injectWS socket.
      upgrade.socket.once('finish', () => upgrade.socket.destroy())
    }
    this.#readiness.emit('gateAdmitted', route.key, heldMs)
  }

  #refuseHttp (route: RouteGate<WebSocket>, request: GatedRequest, state: 'draining' | 'not-ready' | 'timeout' | 'full'): void {
    route.refused++
    this.#readiness.emit('gateRefused', route.key, refusalOf(state))
    const retryAfter = this.#readiness.retryAfterSeconds()
    request.respond(503, { 'retry-after': String(retryAfter), 'cache-control': 'no-store' }, { statusCode: 503, state, retryAfter })
  }

  #acceptThenClose (route: RouteGate<WebSocket>, upgrade: Upgrade): void {
    const { request, socket } = upgrade
    const wss = upgrade.wss()
    const { refusing } = this.sockets
    const { maxHeld } = this.#settings
    // Over the cap (or without a ws server to complete the handshake): an honest 503 instead.
    if (wss === undefined || refusing.size >= maxHeld) { this.refuseUpgrade(route, socket, refusing.size >= maxHeld ? 'full' : 'not-ready'); return }
    route.refused++
    this.#readiness.emit('gateRefused', route.key, this.#readiness.closing ? 'closing' : 'not-ready')
    const reason = notAdmittedReason(this.#readiness.retryAfterSeconds())
    this.backstop.completing(request)
    // Complete the handshake without ever calling the app's handler, then say "try again later".
    wss.handleUpgrade(request, socket, EMPTY_HEAD, (ws) => {
      refusing.add(ws)
      ws.on('error', () => ws.terminate())
      ws.once('close', () => refusing.delete(ws))
      ws.close(TRY_AGAIN_LATER, reason)
      // A peer that never answers the close frame would otherwise keep its socket for ws's 30 s.
      setTimeout(() => ws.terminate(), this.#settings.refusedCloseTimeoutMs).unref()
    })
  }
}
