import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import fp from 'fastify-plugin'
import type { FastifyPluginAsync, FastifyReply, FastifyRequest, onRequestHookHandler, RouteOptions } from 'fastify'
import type {} from '@fastify/websocket'
import type { WebSocket } from 'ws'
import { dependencyLostReason, notAdmittedReason, TRY_AGAIN_LATER } from '../lib/close-reasons.js'
import { drainSockets } from '../lib/drain.js'
import { ReadinessOptionError } from '../lib/errors.js'
import { booleanOption, describe, durationOption, enumOption, integerOption, isPlainObject, rejectUnknownKeys, stringListOption } from '../lib/options.js'
import { GateRegistry, type ConnectionReadiness, type GateMode, type HoldOutcome, type RouteGate, type WebSocketReadiness } from '../lib/route-gate.js'
import { PROBES_PLUGIN_NAME } from './probes.js'
import { addFirstPreClose } from './first-pre-close.js'
import type { GateRefusal } from '../lib/readiness.js'
import { ensureReadiness, rejectUnknownPluginKeys, type RouteReadinessOptions } from './shared.js'
import { respondOnUpgradeSocket, unavailableHeaders } from './upgrade-response.js'

export interface WebSocketGateOptions {
  /**
   * What an upgrade that arrives before its route is ready gets:
   * `hold` (default) parks it until ready, within `holdTimeout`; `reject` answers 503 + Retry-After
   * at once; `accept-then-close` accepts and closes with 1013 (for browsers, which cannot read a 503).
   */
  mode?: GateMode
  /**
   * Longest an upgrade is held, in ms. Default: derived per upgrade from what is left of the startup
   * budget (after startup, about one probe cycle), between 0.5 and 5 s: clients' handshake timeouts are short.
   */
  holdTimeout?: number
  /** Most upgrades held at once across all routes (default 1000); beyond it, 503 at once. */
  maxHeld?: number
  /** On close: time between readiness turning 503 and closing sockets, in ms (default 0). */
  drainDelay?: number
  /** On close: how long sockets get to finish the closing handshake before they are cut, in ms (default 5000). */
  drainTimeout?: number
  /** Close code sent to open sockets on shutdown: 1012 Service Restart (default) or 1001 Going Away. */
  closeCode?: 1001 | 1012
  closeReason?: string
}

export const WEBSOCKET_GATE_PLUGIN_NAME = 'fastify-readiness-websocket'
const MODES: GateMode[] = ['hold', 'reject', 'accept-then-close']
const EMPTY_HEAD = Buffer.alloc(0)
/** Set on an admitted upgrade's raw request, so its socket can be counted on the right route. */
const kGatedRoute = Symbol('fastify-readiness.gated-route')
type GatedRequest = IncomingMessage & { [kGatedRoute]?: RouteGate<WebSocket> }

const websocketGate: FastifyPluginAsync<WebSocketGateOptions> = async (fastify, opts) => {
  rejectUnknownPluginKeys('websocket', opts as Record<string, unknown>, ['mode', 'holdTimeout', 'maxHeld', 'drainDelay', 'drainTimeout', 'closeCode', 'closeReason'])
  const defaults = {
    mode: enumOption<GateMode>('websocket.mode', opts.mode, MODES, 'hold'),
    holdTimeout: opts.holdTimeout === undefined ? undefined : durationOption('websocket.holdTimeout', opts.holdTimeout, 0)
  }
  const maxHeld = integerOption('websocket.maxHeld', opts.maxHeld, 1000, 0)
  const drainDelay = durationOption('websocket.drainDelay', opts.drainDelay, 0, { allowZero: true })
  const drainTimeout = durationOption('websocket.drainTimeout', opts.drainTimeout, 5000)
  const closeCode = parseCloseCode(opts.closeCode)
  const closeReason = parseCloseReason(opts.closeReason)

  const readiness = ensureReadiness(fastify)
  const wss = fastify.websocketServer
  const registry = new GateRegistry<WebSocket>(readiness, maxHeld, (route) => {
    const reason = dependencyLostReason(readiness.retryAfterSeconds())
    const count = route.open.size
    for (const socket of route.open) socket.close(TRY_AGAIN_LATER, reason)
    route.closedOnLoss += count
    readiness.emit('gateClosedOnLoss', route.key, count)
  })
  const requirementChecks: Array<{ path: string, requires: string[] }> = []

  // Sockets are counted per route so shutdown and /health/websocket see them all.
  wss.on('connection', (socket: WebSocket, request: GatedRequest) => {
    const route = request[kGatedRoute]
    if (route === undefined) return
    route.open.add(socket)
    socket.once('close', () => route.open.delete(socket))
  })

  fastify.addHook('onRoute', (route: RouteOptions) => {
    const own = route.readiness
    if (own === false) return
    const methods = Array.isArray(route.method) ? route.method : [route.method]
    if (methods.every((m) => m === 'HEAD')) return // a HEAD request cannot be upgraded
    const isWebSocket = route.websocket === true || typeof route.wsHandler === 'function'
    const path = `routes["${methods.join(',')} ${route.url}"].readiness`
    const settings = parseRouteOptions(path, own, defaults)
    if (!isWebSocket && !settings.gate) return
    if (settings.requires !== undefined) requirementChecks.push({ path: `${path}.requires`, requires: settings.requires })
    const gate = registry.add(route.url, settings)
    const hook = isWebSocket ? upgradeGate(gate) : httpGate(gate)
    const existing = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest]
    // First in the route's chain: during a cold start, auth and the like may need the very dependencies that are not up yet.
    route.onRequest = [hook, ...existing]
  })

  function upgradeGate (route: RouteGate<WebSocket>): onRequestHookHandler {
    return function readinessGate (request, reply, next) {
      if (!request.ws) { next(); return } // a plain GET on a WebSocket route: @fastify/websocket answers it
      if (route.met) { admit(route, request, 0); next(); return }
      const mode = route.options.mode
      if (mode === 'reject') { refuseUpgrade(route, request, reply, readiness.closing ? 'draining' : 'not-ready'); return }
      if (mode === 'accept-then-close') { acceptThenClose(route, request, reply); return }
      const socket = request.raw.socket
      const heldSince = performance.now()
      hold(route, socket, (outcome) => {
        if (outcome === 'ready') { admit(route, request, performance.now() - heldSince); next(); return }
        reply.hijack()
        if (outcome !== 'gone') refuseUpgrade(route, request, reply, outcome)
      })
    }
  }

  function httpGate (route: RouteGate<WebSocket>): onRequestHookHandler {
    return function readinessGate (request, reply, next) {
      if (route.met) { readiness.emit('gateAdmitted', route.key, 0); next(); return }
      if (route.options.mode !== 'hold') { refuseHttp(route, reply, readiness.closing ? 'draining' : 'not-ready'); return }
      const heldSince = performance.now()
      hold(route, request.raw.socket, (outcome) => {
        if (outcome === 'ready') { readiness.emit('gateAdmitted', route.key, performance.now() - heldSince); next() }
        else if (outcome === 'gone') reply.hijack() // the client left: nothing to answer
        else refuseHttp(route, reply, outcome)
      })
    }
  }

  function hold (route: RouteGate<WebSocket>, socket: Duplex, then: (outcome: HoldOutcome) => void): void {
    const held = registry.hold(route, route.options.holdTimeout ?? readiness.suggestedHoldMs())
    // 'end' too: the HTTP server allows half-open sockets, so a client that
    // sends FIN while held would otherwise sit here until the hold timeout.
    socket.once('close', held.cancel)
    socket.once('end', held.cancel)
    void held.outcome.then((outcome) => {
      socket.removeListener('close', held.cancel)
      socket.removeListener('end', held.cancel)
      if (outcome === 'gone') socket.destroy()
      then(outcome)
    })
  }

  function admit (route: RouteGate<WebSocket>, request: FastifyRequest, heldMs: number): void {
    route.accepted++
    readiness.emit('gateAdmitted', route.key, heldMs)
    ;(request.raw as GatedRequest)[kGatedRoute] = route
  }

  function refuseUpgrade (route: RouteGate<WebSocket>, request: FastifyRequest, reply: FastifyReply, state: string): void {
    route.refused++
    readiness.emit('gateRefused', route.key, refusal(state))
    const retryAfter = readiness.retryAfterSeconds()
    if (!reply.sent) reply.hijack()
    respondOnUpgradeSocket(request.raw.socket, 503, unavailableHeaders(retryAfter), JSON.stringify({ statusCode: 503, state, retryAfter }))
  }

  function refuseHttp (route: RouteGate<WebSocket>, reply: FastifyReply, state: string): void {
    route.refused++
    readiness.emit('gateRefused', route.key, refusal(state))
    const retryAfter = readiness.retryAfterSeconds()
    void reply.code(503).headers({ 'retry-after': String(retryAfter), 'cache-control': 'no-store' }).send({ statusCode: 503, state, retryAfter })
  }

  function acceptThenClose (route: RouteGate<WebSocket>, request: FastifyRequest, reply: FastifyReply): void {
    route.refused++
    readiness.emit('gateRefused', route.key, readiness.closing ? 'closing' : 'not-ready')
    reply.hijack()
    const reason = notAdmittedReason(readiness.retryAfterSeconds())
    // Complete the handshake without ever calling the app's handler, then say "try again later".
    wss.handleUpgrade(request.raw, request.raw.socket, EMPTY_HEAD, (socket) => {
      socket.on('error', () => socket.terminate())
      socket.close(TRY_AGAIN_LATER, reason)
    })
  }

  const api: WebSocketReadiness = {
    drainBudgetMs: drainTimeout,
    isReadyForConnections (url?: string): boolean {
      if (url === undefined) return registry.allReady()
      const route = registry.routes.get(url)
      if (route === undefined) throw new ReadinessOptionError('isReadyForConnections', `names "${url}", which is not a gated route (gated: ${[...registry.routes.keys()].join(', ') || 'none'})`)
      return route.met
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
    } catch (err) {
      hookDone(err as Error)
      return
    }
    registry.start()
    hookDone()
  })

  readiness.addCloser(async function drainWebSockets () {
    // From here on, upgrades never reach Fastify's closing router, whose 503 would leave the socket open.
    const server = fastify.server
    server.removeAllListeners('upgrade')
    server.on('upgrade', (request: IncomingMessage, socket: Duplex) => {
      socket.on('error', () => socket.destroy())
      respondOnUpgradeSocket(socket, 503, unavailableHeaders(readiness.retryAfterSeconds()), '{"statusCode":503,"state":"draining","retryAfter":1}')
      void request
    })
    if (drainDelay > 0) await sleep(drainDelay, undefined, { ref: false })
    const sockets = new Set<WebSocket>(wss.clients)
    for (const route of registry.routes.values()) for (const socket of route.open) sockets.add(socket)
    const result = await drainSockets(sockets, closeCode, closeReason, drainTimeout)
    registry.stop()
    if (result.closed + result.terminated > 0) {
      readiness.emit('socketsDrained', closeCode, result.closed, result.terminated)
      fastify.log.info({ ...result, closeCode }, 'websocket connections drained')
    }
  })
  const first = addFirstPreClose(fastify, async function closeConnections () {
    await readiness.closeConnections() // readiness turns 503 and every held upgrade is answered 503 now
  })
  if (!first) fastify.log.warn('fastify-readiness: could not run the WebSocket drain before @fastify/websocket\'s preClose; clients may see close code 1005 on shutdown')
}

function refusal (state: string): GateRefusal {
  if (state === 'draining') return 'closing'
  if (state === 'timeout' || state === 'full') return state
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
  // RFC 6455: the reason must fit in a control frame with the code (125 bytes).
  if (typeof value !== 'string' || Buffer.byteLength(value) > 123) {
    throw new ReadinessOptionError('websocket.closeReason', `must be a string of at most 123 bytes, got ${describe(value)}`)
  }
  return value
}

export default fp(websocketGate, {
  fastify: '5.x',
  name: WEBSOCKET_GATE_PLUGIN_NAME,
  dependencies: ['@fastify/websocket', PROBES_PLUGIN_NAME]
})
