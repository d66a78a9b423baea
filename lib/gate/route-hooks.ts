import type { Duplex } from 'node:stream'
import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestHookHandler, RouteOptions } from 'fastify'
import type {} from '@fastify/websocket'
import type { WebSocket, WebSocketServer } from 'ws'
import type { GateController } from './controller.js'
import { parseRouteOptions, type GateSettings } from './options.js'
import type { RouteGate } from './route-gate.js'

export function serverOf (instance: FastifyInstance): WebSocketServer | undefined {
  return instance.hasDecorator('websocketServer') ? instance.websocketServer : undefined
}

/**
 * The gate's `onRoute` hook: reads each route's `readiness` option and puts the gate's onRequest
 * hook first among the route's own. The hooks translate Fastify's request and reply for the
 * controller, which decides.
 */
export function gateRoutes (gate: GateController, defaults: Pick<GateSettings, 'mode' | 'holdTimeoutMs'>, layout: { websocketFirst: boolean }): (this: FastifyInstance, route: RouteOptions) => void {
  function markExempt (this: FastifyInstance, request: FastifyRequest, _reply: FastifyReply, next: () => void): void {
    gate.exempt(request.raw)
    next()
  }

  function markPlainRoute (this: FastifyInstance, request: FastifyRequest, _reply: FastifyReply, next: () => void): void {
    if (request.ws) gate.exempt(request.raw)
    next()
  }

  /**
   * An upgrade on a plain GET route is told apart from one on a WebSocket route the gate never saw. With
   * @fastify/websocket registered before the gate, its onRoute hook has already wrapped the route's handler
   * (the wrapper completes such an upgrade and closes it), so wrapping that handler costs a plain request one
   * call, where a route hook would put every request through Fastify's hook runner (issue 24: no per-request
   * work on routes that are none of the suite's business). Registered after the gate, @fastify/websocket
   * wraps this wrapper and an upgrade never reaches it: the route hook then.
   */
  function markPlainUpgrades (route: RouteOptions): void {
    if (!layout.websocketFirst) {
      prependOnRequest(route, markPlainRoute)
      return
    }
    const handler = route.handler
    route.handler = function plainRoute (this: FastifyInstance, request: FastifyRequest, reply: FastifyReply) {
      if (request.ws) gate.exempt(request.raw)
      return handler.call(this, request, reply)
    }
  }

  function upgradeGate (route: RouteGate<WebSocket>): onRequestHookHandler {
    return function readinessGate (this: FastifyInstance, request, reply, next) {
      if (!request.ws) { next(); return } // a plain GET on a WebSocket route: @fastify/websocket answers it
      // @fastify/websocket puts the upgrade socket here, for real upgrades and injectWS alike.
      const socket = reply.raw.socket as Duplex | null
      if (socket === null) { next(); return }
      gate.upgrade(route, {
        request: request.raw,
        socket,
        inMemory: request.raw.socket === undefined,
        wss: () => serverOf(this),
        proceed: next,
        takeOver: () => { reply.hijack() }
      })
    }
  }

  function httpGate (route: RouteGate<WebSocket>): onRequestHookHandler {
    return function readinessGate (request, reply, next) {
      // light-my-request's inject() has a socket without events: hold on without watching it.
      const socket = request.raw.socket as Duplex | undefined
      const watchable = typeof socket?.once === 'function' ? socket : undefined
      gate.http(route, {
        connection: watchable,
        // Under HTTP/2 each stream has a socket object of its own: the session is the client connection.
        connectionKey: (request.raw as { stream?: { session?: object } }).stream?.session ?? watchable,
        proceed: next,
        takeOver: () => { reply.hijack() },
        respond: (status, headers, body) => { void reply.code(status).headers(headers).send(body) }
      })
    }
  }

  return function gateRoute (this: FastifyInstance, route: RouteOptions): void {
    const own = route.readiness
    const methods = Array.isArray(route.method) ? route.method : [route.method]
    if (methods.every((m) => m === 'HEAD')) return // a HEAD request cannot be upgraded
    // @fastify/websocket takes any truthy `websocket` for a WebSocket route (`websocket: 1`, a flag from an
    // env variable): so must the gate, or such a route would pass for a plain one and go ungated.
    const isWebSocket = Boolean(route.websocket) || typeof route.wsHandler === 'function'
    if (isWebSocket) {
      gate.sawWebSocketRoute = true
      const wss = serverOf(this)
      if (wss !== undefined) gate.adopt(wss)
    }
    const path = `routes["${methods.join(',')} ${route.url}"].readiness`
    // An upgrade on a plain GET route reaches no app handler (@fastify/websocket closes it), so the
    // backstop must not take it for a WebSocket route the gate never saw, whatever the route's own options.
    const plainUpgradable = !isWebSocket && methods.includes('GET') && serverOf(this) !== undefined
    if (own === false) {
      if (isWebSocket) prependOnRequest(route, markExempt)
      else if (plainUpgradable) markPlainUpgrades(route)
      return
    }
    const settings = parseRouteOptions(path, own, defaults)
    if (!isWebSocket && !settings.gate) {
      if (plainUpgradable) markPlainUpgrades(route)
      return
    }
    const routeGate = gate.addRoute(route.url, settings, path)
    prependOnRequest(route, isWebSocket ? upgradeGate(routeGate) : httpGate(routeGate))
    if (plainUpgradable) prependOnRequest(route, markPlainRoute)
  }
}

function prependOnRequest (route: RouteOptions, hook: onRequestHookHandler): void {
  const existing = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest]
  // First among the route's own hooks; the app's instance-level onRequest hooks (auth) run before it, as
  // Fastify orders them, so an unauthenticated client never takes a hold slot.
  route.onRequest = [hook, ...existing]
}
