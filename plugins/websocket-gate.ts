import type { IncomingMessage } from 'node:http'
import { Server } from 'node:net'
import type { Duplex } from 'node:stream'
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest, onRequestHookHandler, RouteOptions } from 'fastify'
import type {} from '@fastify/websocket'
import type { WebSocket, WebSocketServer } from 'ws'
import { dependencyLostReason, notAdmittedReason, TRY_AGAIN_LATER } from '../lib/gate/close-reasons.js'
import { drainSockets } from '../lib/gate/drain.js'
import { ReadinessOptionError } from '../lib/common/errors.js'
import { booleanOption, describe, durationOption, enumOption, integerOption, isPlainObject, rejectUnknownKeys, stringListOption } from '../lib/common/options.js'
import type { GateRefusal } from '../lib/core/readiness.js'
import { GateRegistry, RELEASE_BATCH, type ConnectionReadiness, type GateMode, type HoldOutcome, type RouteGate, type WebSocketReadiness } from '../lib/gate/route-gate.js'
import { installBackstop } from '../lib/gate/backstop.js'
import { watchHeldSocket } from '../lib/gate/held-socket.js'
import { PROBES_PLUGIN_NAME } from './probes.js'
import { claimPart, ensureReadiness, rejectUnknownPluginKeys, type RouteReadinessOptions } from '../lib/core/app.js'
import { respondOnUpgradeSocket, unavailableHeaders } from '../lib/gate/upgrade-response.js'

export interface WebSocketGateOptions {
  /**
   * What an upgrade that arrives before its route is ready gets:
   * `hold` (default) parks it until ready, within `holdTimeout`; `reject` answers 503 + Retry-After
   * at once; `accept-then-close` accepts and closes with 1013 (for browsers, which cannot read a 503).
   */
  mode?: GateMode
  /**
   * Longest an upgrade is held, in ms. Default: derived per upgrade from what is left of the startup
   * budget (after startup, about one probe cycle), between 0.5 s and `maxHoldTimeout`.
   */
  holdTimeout?: number
  /**
   * Cap of the derived hold, in ms (default 5000). Raise it when your clients' handshake timeout is longer
   * (ws: `handshakeTimeout`; browsers give up after tens of seconds) and warm-ups take longer than 5 s.
   */
  maxHoldTimeout?: number
  /** Most upgrades held at once across all routes (default 1000); beyond it, 503 at once. */
  maxHeld?: number
  /** Most requests one client connection may have held at once (default 4): pipelining cannot take every slot. */
  maxHeldPerConnection?: number
  /**
   * Held upgrades let through per event-loop turn when a route turns ready (default 64). Each runs a
   * handshake and the app's handler; releasing thousands in one turn would stall the loop (bench).
   */
  releaseBatch?: number
  /** accept-then-close: how long a refused socket gets to answer its 1013 before it is cut, in ms (default 1000). */
  refusedCloseTimeout?: number
  /** On shutdown: how long each socket gets, after its close frame, to finish the closing handshake, in ms (default 5000). */
  drainTimeout?: number
  /**
   * On shutdown: the window over which close frames are spread, in ms (default 1000), so the clients of a
   * draining instance do not all reconnect to the others in one tick. The window used is at most 2 ms per socket.
   */
  drainSpread?: number
  /** Close code sent to open sockets on shutdown: 1012 Service Restart (default) or 1001 Going Away. */
  closeCode?: 1001 | 1012
  closeReason?: string
}

export const WEBSOCKET_GATE_PLUGIN_NAME = 'fastify-readiness-websocket'
const MODES: GateMode[] = ['hold', 'reject', 'accept-then-close']
const EMPTY_HEAD = Buffer.alloc(0)
/** Paths named in "not gated" logs, so a storm on one misdeclared route logs once. */
const MAX_REPORTED_PATHS = 100
/** How long an injectWS peer gets to read its close frame before its in-memory stream is cut. */
const IN_PROCESS_CLOSE_MS = 20

const websocketGate: FastifyPluginAsync<WebSocketGateOptions> = async (fastify, opts) => {
  if (isPlainObject(opts) && 'drainDelay' in opts) {
    throw new ReadinessOptionError('websocket.drainDelay', 'was replaced by shutdown.delay: the serving delay belongs to the shutdown sequence, which keeps every route (not only WebSockets) serving while readiness reports 503')
  }
  rejectUnknownPluginKeys('websocket', opts as Record<string, unknown>, ['mode', 'holdTimeout', 'maxHoldTimeout', 'maxHeld', 'maxHeldPerConnection', 'releaseBatch', 'refusedCloseTimeout', 'drainTimeout', 'drainSpread', 'closeCode', 'closeReason'])
  const defaults = {
    mode: enumOption<GateMode>('websocket.mode', opts.mode, MODES, 'hold'),
    holdTimeout: opts.holdTimeout === undefined ? undefined : durationOption('websocket.holdTimeout', opts.holdTimeout, 0)
  }
  const maxHoldTimeout = durationOption('websocket.maxHoldTimeout', opts.maxHoldTimeout, 5000)
  // Each held upgrade is a socket (a file descriptor): a million is past any process's limit.
  const maxHeld = integerOption('websocket.maxHeld', opts.maxHeld, 1000, 1, 1_000_000)
  const maxHeldPerConnection = integerOption('websocket.maxHeldPerConnection', opts.maxHeldPerConnection, 4, 1, 1000)
  const releaseBatch = integerOption('websocket.releaseBatch', opts.releaseBatch, RELEASE_BATCH, 1, 1_000_000)
  const refusedCloseTimeout = durationOption('websocket.refusedCloseTimeout', opts.refusedCloseTimeout, 1000)
  const drainTimeout = durationOption('websocket.drainTimeout', opts.drainTimeout, 5000)
  const drainSpread = durationOption('websocket.drainSpread', opts.drainSpread, 1000, { allowZero: true })
  const closeCode = parseCloseCode(opts.closeCode)
  const closeReason = parseCloseReason(opts.closeReason)

  const readiness = ensureReadiness(fastify)
  claimPart(fastify, 'the WebSocket gate')
  const registry = new GateRegistry<WebSocket>(readiness, maxHeld, (route) => {
    const reason = dependencyLostReason(readiness.retryAfterSeconds())
    const count = route.open.size
    for (const socket of route.open) socket.close(TRY_AGAIN_LATER, reason)
    route.closedOnLoss += count
    readiness.emit('gateClosedOnLoss', route.key, count)
  }, maxHeldPerConnection, releaseBatch)
  const requirementChecks: Array<{ path: string, requires: string[] }> = []
  /** Raw requests the route hooks let through (or that opted out), for the backstop. */
  const admitted = new WeakSet<object>()
  const routeOf = new WeakMap<object, RouteGate<WebSocket>>()
  /** injectWS's in-memory streams, which never emit 'close' on their own after the closing handshake. */
  const inMemory = new WeakSet<object>()
  /** The WebSockets on those streams, whichever route (gated or not) they came through. */
  const inMemoryClients = new WeakSet<WebSocket>()
  /** Every ws server seen (one per @fastify/websocket registration the suite can see). */
  const servers = new Set<WebSocketServer>()
  /** Sockets accepted only to be closed with 1013 (accept-then-close), bounded by `maxHeld`. */
  const refusing = new Set<WebSocket>()
  const reportedPaths = new Set<string>()
  /** HTTP servers other than the app's own that WebSocket upgrades came in on. */
  const upgradeServers = new Set<Server>()
  let sawWebSocketRoute = false

  function adoptServer (wss: WebSocketServer): void {
    if (servers.has(wss)) return
    servers.add(wss)
    installBackstop(wss, backstop)
    // Sockets are counted per route so shutdown and /health/websocket see them all.
    wss.on('connection', (socket: WebSocket, request: IncomingMessage) => {
      // injectWS's fake request has no socket; its WebSocket never sees its stream close by itself.
      const accepted = request.socket as (Duplex & { server?: unknown }) | undefined
      if (accepted === undefined) inMemoryClients.add(socket)
      // @fastify/websocket's `options.server` listens for upgrades on a server of the app's own, which
      // only the sockets it accepted name (net.Socket#server): the close-time refuser must go there too.
      else if (accepted.server instanceof Server && accepted.server !== fastify.server) upgradeServers.add(accepted.server)
      const route = routeOf.get(request)
      if (route !== undefined) {
        route.open.add(socket)
        socket.once('close', () => route.open.delete(socket))
      }
      // Admitted before shutdown began, upgraded after (an async route hook): it still gets the drain's close frame.
      if (readiness.closing) void drainSockets([socket], { code: closeCode, reason: closeReason, timeout: drainTimeout, spread: 0 })
    })
  }

  function serverOf (instance: FastifyInstance): WebSocketServer | undefined {
    return instance.hasDecorator('websocketServer') ? instance.websocketServer : undefined
  }

  fastify.addHook('onRoute', function gateRoute (this: FastifyInstance, route: RouteOptions) {
    const own = route.readiness
    const methods = Array.isArray(route.method) ? route.method : [route.method]
    if (methods.every((m) => m === 'HEAD')) return // a HEAD request cannot be upgraded
    // @fastify/websocket takes any truthy `websocket` for a WebSocket route (`websocket: 1`, a flag from an
    // env variable): so must the gate, or such a route would pass for a plain one and go ungated.
    const isWebSocket = Boolean(route.websocket) || typeof route.wsHandler === 'function'
    if (isWebSocket) {
      sawWebSocketRoute = true
      const wss = serverOf(this)
      if (wss !== undefined) adoptServer(wss)
    }
    const path = `routes["${methods.join(',')} ${route.url}"].readiness`
    // An upgrade on a plain GET route reaches no app handler (@fastify/websocket closes it), so the
    // backstop must not take it for a WebSocket route the gate never saw, whatever the route's own options.
    const plainUpgradable = !isWebSocket && methods.includes('GET') && serverOf(this) !== undefined
    if (own === false) {
      if (isWebSocket) prependOnRequest(route, markExempt)
      else if (plainUpgradable) prependOnRequest(route, markPlainRoute)
      return
    }
    const settings = parseRouteOptions(path, own, defaults)
    if (!isWebSocket && !settings.gate) {
      if (plainUpgradable) prependOnRequest(route, markPlainRoute)
      return
    }
    if (settings.requires !== undefined) requirementChecks.push({ path: `${path}.requires`, requires: settings.requires })
    const gate = registry.add(route.url, settings)
    prependOnRequest(route, isWebSocket ? upgradeGate(gate) : httpGate(gate))
    if (plainUpgradable) prependOnRequest(route, markPlainRoute)
  })

  function markExempt (this: FastifyInstance, request: FastifyRequest, _reply: FastifyReply, next: () => void): void {
    admitted.add(request.raw)
    next()
  }

  function markPlainRoute (this: FastifyInstance, request: FastifyRequest, _reply: FastifyReply, next: () => void): void {
    if (request.ws) admitted.add(request.raw)
    next()
  }

  function upgradeGate (route: RouteGate<WebSocket>): onRequestHookHandler {
    return function readinessGate (this: FastifyInstance, request, reply, next) {
      if (!request.ws) { next(); return } // a plain GET on a WebSocket route: @fastify/websocket answers it
      // @fastify/websocket puts the upgrade socket here, for real upgrades and injectWS alike.
      const socket = reply.raw.socket as Duplex | null
      if (socket === null) { next(); return }
      if (request.raw.socket === undefined) inMemory.add(socket)
      if (readiness.closing) { refuseUpgrade(route, socket, 'draining'); reply.hijack(); return }
      if (route.met) { admit(route, request, socket, 0); next(); return }
      // An in-process injectWS caller (a test) has no client that could come back later: it is held
      // whatever the mode, bounded by the hold timeout, and the handler still never runs early.
      const mode = inMemory.has(socket) ? 'hold' : route.options.mode
      if (mode === 'reject') { reply.hijack(); refuseUpgrade(route, socket, 'not-ready'); return }
      if (mode === 'accept-then-close') { reply.hijack(); acceptThenClose(route, request, socket, this); return }
      const heldSince = performance.now()
      const watch = request.raw.socket === undefined ? null : watchHeldSocket(socket)
      const held = registry.hold(route, holdTimeoutOf(route), socket)
      const release = watch?.onViolation(held.cancel)
      socket.once('close', held.cancel)
      socket.once('end', held.cancel)
      void held.outcome.then((outcome) => {
        socket.removeListener('close', held.cancel)
        socket.removeListener('end', held.cancel)
        release?.()
        if (outcome === 'ready') { admit(route, request, socket, performance.now() - heldSince); next(); return }
        reply.hijack()
        if (outcome === 'gone') socket.destroy()
        else refuseUpgrade(route, socket, outcome)
      })
    }
  }

  function httpGate (route: RouteGate<WebSocket>): onRequestHookHandler {
    return function readinessGate (request, reply, next) {
      if (route.met && !readiness.closing) { readiness.emit('gateAdmitted', route.key, 0); next(); return }
      if (route.options.mode !== 'hold' || readiness.closing) { refuseHttp(route, reply, readiness.closing ? 'draining' : 'not-ready'); return }
      // light-my-request's inject() has a socket without events: hold on without watching it.
      const socket = request.raw.socket as Duplex | undefined
      const watchable = typeof socket?.once === 'function' ? socket : undefined
      const heldSince = performance.now()
      const held = registry.hold(route, holdTimeoutOf(route), watchable)
      // Only a pending hold watches its socket: a pipelining client refused at once ('full') must not add
      // a 'close' listener per request (1,000 of them tripped MaxListenersExceededWarning).
      if (held.pending) watchable?.once('close', held.cancel)
      void held.outcome.then((outcome) => {
        watchable?.removeListener('close', held.cancel)
        if (outcome === 'ready') { readiness.emit('gateAdmitted', route.key, performance.now() - heldSince); next() } else if (outcome === 'gone') reply.hijack() // the client left: nothing to answer
        else refuseHttp(route, reply, outcome)
      })
    }
  }

  function holdTimeoutOf (route: RouteGate<WebSocket>): number {
    return route.options.holdTimeout ?? readiness.suggestedHoldMs(maxHoldTimeout)
  }

  function admit (route: RouteGate<WebSocket>, request: FastifyRequest, socket: Duplex, heldMs: number): void {
    route.accepted++
    admitted.add(request.raw)
    routeOf.set(request.raw, route)
    if (inMemory.has(socket)) {
      // ws ends its side once the closing handshake is done and then waits for 'close', which an
      // in-memory stream never emits by itself: without this, every close() of a test app would
      // wait out the drain timeout for each injectWS socket.
      socket.once('finish', () => socket.destroy())
    }
    readiness.emit('gateAdmitted', route.key, heldMs)
  }

  function refuseUpgrade (route: RouteGate<WebSocket> | null, socket: Duplex, state: HoldOutcome | 'not-ready' | 'ungated-route'): void {
    if (route !== null) route.refused++
    const reason = refusal(state)
    readiness.emit('gateRefused', route?.key ?? 'unknown', reason)
    const retryAfter = readiness.retryAfterSeconds()
    socket.on('error', () => socket.destroy())
    const body = JSON.stringify({ statusCode: 503, state: state === 'ungated-route' ? 'not-ready' : state, retryAfter })
    respondOnUpgradeSocket(socket, 503, unavailableHeaders(retryAfter), body)
  }

  function refuseHttp (route: RouteGate<WebSocket>, reply: FastifyReply, state: string): void {
    route.refused++
    readiness.emit('gateRefused', route.key, refusal(state))
    const retryAfter = readiness.retryAfterSeconds()
    void reply.code(503).headers({ 'retry-after': String(retryAfter), 'cache-control': 'no-store' }).send({ statusCode: 503, state, retryAfter })
  }

  function acceptThenClose (route: RouteGate<WebSocket>, request: FastifyRequest, socket: Duplex, instance: FastifyInstance): void {
    const wss = serverOf(instance)
    // Over the cap (or without a ws server to complete the handshake): an honest 503 instead.
    if (wss === undefined || refusing.size >= maxHeld) { refuseUpgrade(route, socket, refusing.size >= maxHeld ? 'full' : 'not-ready'); return }
    route.refused++
    readiness.emit('gateRefused', route.key, readiness.closing ? 'closing' : 'not-ready')
    const reason = notAdmittedReason(readiness.retryAfterSeconds())
    acceptingRefusal.add(request.raw)
    // Complete the handshake without ever calling the app's handler, then say "try again later".
    wss.handleUpgrade(request.raw, socket, EMPTY_HEAD, (ws) => {
      refusing.add(ws)
      ws.on('error', () => ws.terminate())
      ws.once('close', () => refusing.delete(ws))
      ws.close(TRY_AGAIN_LATER, reason)
      // A peer that never answers the close frame would otherwise keep its socket for ws's 30 s.
      setTimeout(() => ws.terminate(), refusedCloseTimeout).unref()
    })
  }
  const acceptingRefusal = new WeakSet<object>()

  /**
   * The last word on an upgrade no route hook of the gate admitted: let it
   * through only while the app is fully ready (the default requirements),
   * refuse it otherwise, and tell the developer which route escaped the gate.
   */
  function backstop (request: IncomingMessage): boolean {
    if (acceptingRefusal.has(request)) return true
    const path = (request.url ?? '/').split('?')[0] ?? '/'
    if (readiness.closing) {
      refuseRaw(request, 'draining')
      return false
    }
    if (admitted.has(request)) return true
    const ready = readiness.meets(undefined)
    if (!reportedPaths.has(path) && reportedPaths.size < MAX_REPORTED_PATHS) {
      reportedPaths.add(path)
      const message = `fastify-readiness: the WebSocket route ${path} is not gated: it was declared where the gate cannot see it (before fastify-readiness was registered, in a plugin registered before it, or outside the context the suite was registered in, e.g. the suite inside a plugin not wrapped in fastify-plugin). ${ready ? 'It is let through only while the whole app is ready' : 'Upgrades on it are refused with 503 until the whole app is ready'}. Fix: register fastify-readiness at the root, awaited, before your routes and route plugins (docs/configuration.md, "Where to register").`
      if (ready) fastify.log.warn({ route: path }, message)
      else fastify.log.error({ route: path }, message)
    }
    if (ready) return true
    refuseRaw(request, 'ungated-route')
    return false
  }

  /** ws answers a refused handshake with 400; answer 503 + Retry-After first where the socket is at hand. */
  function refuseRaw (request: IncomingMessage, state: 'draining' | 'ungated-route'): void {
    const socket = request.socket as Duplex | undefined
    if (socket === undefined || socket === null) return
    refuseUpgrade(null, socket, state)
  }

  const api: WebSocketReadiness = {
    drainBudgetMs: drainSpread + drainTimeout,
    isReadyForConnections (url?: string): boolean {
      if (url === undefined) return registry.allReady()
      const route = registry.routes.get(url)
      if (route === undefined) throw new ReadinessOptionError('isReadyForConnections', `names "${url}", which is not a gated route (gated: ${[...registry.routes.keys()].join(', ') || 'none'})`)
      return route.met && !readiness.draining
    },
    getConnectionReadiness (): ConnectionReadiness {
      const routes: ConnectionReadiness['routes'] = {}
      let open = 0
      for (const [key, route] of registry.routes) {
        routes[key] = registry.snapshot(route)
        open += route.open.size
      }
      return { ready: registry.allReady(), draining: readiness.draining, held: registry.heldCount, open, routes }
    }
  }
  readiness.websocket = api

  fastify.addHook('onReady', function checkRouteRequirements (hookDone) {
    try {
      for (const { path, requires } of requirementChecks) readiness.assertKnown(path, requires)
      const rootServer = serverOf(fastify)
      if (rootServer !== undefined) adoptServer(rootServer)
      const upgradeListeners = fastify.server.listenerCount('upgrade')
      if (servers.size > 0 && upgradeListeners > servers.size) {
        // Each @fastify/websocket listens once; the gate guards those it saw. Another listener may be
        // another WebSocket server (HMR, graphql-ws), not the gate's, or a second @fastify/websocket whose
        // routes were declared where the gate cannot see them: only the app can tell, so say it.
        fastify.log.warn({ upgradeListeners, guarded: servers.size }, `fastify-readiness: this server has ${upgradeListeners} 'upgrade' listeners but the gate guards ${servers.size} @fastify/websocket server(s). If another one is a @fastify/websocket registered in a plugin before the suite, its routes run ungated: register @fastify/websocket once, at the root (docs/configuration.md, "Where to register"). Other WebSocket servers on this server are not the gate's to guard.`)
      }
      if (servers.size === 0 && (sawWebSocketRoute || upgradeListeners > 0)) {
        throw new ReadinessOptionError('websocket',
          'cannot see the @fastify/websocket that serves this app\'s upgrades: it is registered inside a plugin that does not share it ' +
          '(not wrapped in fastify-plugin), so upgrades could reach handlers ungated. Register @fastify/websocket at the root (or with fastify-plugin), ' +
          'or pass websocket: false if the upgrades on this server are not the suite\'s to gate (another WebSocket server).')
      }
    } catch (err) {
      hookDone(err as Error)
      return
    }
    registry.start()
    hookDone()
  })

  readiness.addCloser(async function drainWebSockets () {
    // startClosing() has run: held upgrades are being answered 503, new ones are refused.
    const sockets = new Set<WebSocket>()
    for (const wss of servers) for (const socket of wss.clients) sockets.add(socket)
    for (const route of registry.routes.values()) for (const socket of route.open) sockets.add(socket)
    // An in-process peer answers the close frame at once but its stream never reports closing, so
    // it is cut right after, instead of making every test's close() wait out drainTimeout.
    const inProcess = [...sockets].filter((socket) => inMemoryClients.has(socket))
    for (const socket of inProcess) sockets.delete(socket)
    const spread = Math.min(drainSpread, 2 * sockets.size)
    const [network, local] = await Promise.all([
      drainSockets(sockets, { code: closeCode, reason: closeReason, timeout: drainTimeout, spread }),
      drainSockets(inProcess, { code: closeCode, reason: closeReason, timeout: Math.min(drainTimeout, IN_PROCESS_CLOSE_MS), spread: 0 })
    ])
    // Cut in-process peers did answer: they count as closed.
    const result = { closed: network.closed + local.closed + local.terminated, terminated: network.terminated }
    registry.stop()
    if (result.closed + result.terminated > 0) {
      readiness.emit('socketsDrained', closeCode, result.closed, result.terminated)
      fastify.log.info({ ...result, closeCode, spreadMs: spread }, 'websocket connections drained')
    }
  })
  // Runs before @fastify/websocket's own preClose (which closes sockets with no code, 1005) when the
  // suite is registered first; registered after it, that preClose (or the app's own) runs first and
  // this drains what it left. The shutdown sequence drains before app.close() in both layouts.
  fastify.addHook('preClose', async function closeConnections () {
    // Fastify has closed its routes by now and would answer an arriving upgrade with a 503 that
    // leaves the socket open (it is detached from Node's HTTP machinery). Answer first, and close.
    for (const server of [fastify.server, ...upgradeServers]) server.prependListener('upgrade', refuseWhileClosing)
    await readiness.closeConnections()
  })
  fastify.addHook('onClose', function stopRefusing (_instance, hookDone) {
    for (const server of [fastify.server, ...upgradeServers]) server.removeListener('upgrade', refuseWhileClosing)
    hookDone()
  })
  function refuseWhileClosing (request: IncomingMessage, socket: Duplex): void {
    // Later 'upgrade' listeners (@fastify/websocket's) still run: Node's ServerResponse buffers what
    // Fastify writes to a socket that has ended, so the client reads this response only.
    void request
    refuseUpgrade(null, socket, 'draining')
  }
}

function prependOnRequest (route: RouteOptions, hook: onRequestHookHandler): void {
  const existing = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest]
  // First among the route's own hooks; the app's instance-level onRequest hooks (auth) run before it, as
  // Fastify orders them, so an unauthenticated client never takes a hold slot.
  route.onRequest = [hook, ...existing]
}

function refusal (state: string): GateRefusal {
  if (state === 'draining') return 'closing'
  if (state === 'timeout' || state === 'full' || state === 'ungated-route') return state
  return 'not-ready'
}

interface ParsedRoute {
  requires: string[] | undefined
  mode: GateMode
  holdTimeout: number | undefined
  closeOnLoss: boolean
  gate: boolean
}

function parseRouteOptions (path: string, value: RouteReadinessOptions | undefined, defaults: { mode: GateMode, holdTimeout: number | undefined }): ParsedRoute {
  if (value === undefined) return { requires: undefined, ...defaults, closeOnLoss: false, gate: false }
  if (!isPlainObject(value)) throw new ReadinessOptionError(path, `must be an object or false, got ${describe(value)}`)
  rejectUnknownKeys(path, value, ['requires', 'mode', 'holdTimeout', 'closeOnLoss', 'gate'])
  return {
    requires: value.requires === undefined ? undefined : stringListOption(`${path}.requires`, value.requires),
    mode: enumOption<GateMode>(`${path}.mode`, value.mode, MODES, defaults.mode),
    holdTimeout: value.holdTimeout === undefined ? defaults.holdTimeout : durationOption(`${path}.holdTimeout`, value.holdTimeout, 0),
    closeOnLoss: booleanOption(`${path}.closeOnLoss`, value.closeOnLoss, false),
    gate: booleanOption(`${path}.gate`, value.gate, false)
  }
}

function parseCloseCode (value: unknown): 1001 | 1012 {
  if (value === undefined) return 1012
  if (value === 1001 || value === 1012) return value
  throw new ReadinessOptionError('websocket.closeCode', `must be 1012 (Service Restart) or 1001 (Going Away), got ${describe(value)}`)
}

function parseCloseReason (value: unknown): string {
  if (value === undefined) return 'server restarting'
  // RFC 6455: the reason is UTF-8 and must fit in a control frame with the code (125 bytes); a lone
  // surrogate would be sent as U+FFFD, so the client would read another reason than the one configured.
  // Control characters (NUL, newlines) would land verbatim in clients' logs and UIs.
  // eslint-disable-next-line no-control-regex
  if (typeof value !== 'string' || Buffer.from(value).toString() !== value || Buffer.byteLength(value) > 123 || /[\u0000-\u001f\u007f]/.test(value)) {
    throw new ReadinessOptionError('websocket.closeReason', `must be a well-formed string of at most 123 UTF-8 bytes without control characters, got ${describe(value)}`)
  }
  return value
}

export default fp(websocketGate, {
  fastify: '5.x',
  name: WEBSOCKET_GATE_PLUGIN_NAME,
  dependencies: [PROBES_PLUGIN_NAME]
})
