import fp from 'fastify-plugin'
import type { FastifyPluginAsync } from 'fastify'
import type {} from '@fastify/websocket'
import { claimPart, ensureReadiness } from '../lib/core/app.js'
import { GateController } from '../lib/gate/controller.js'
import { readGateOptions, type WebSocketGateOptions } from '../lib/gate/options.js'
import { gateRoutes, serverOf } from '../lib/gate/route-hooks.js'
import { PROBES_PLUGIN_NAME } from './probes.js'

export type { WebSocketGateOptions } from '../lib/gate/options.js'

export const WEBSOCKET_GATE_PLUGIN_NAME = 'fastify-readiness-websocket'

/**
 * The WebSocket gate: no upgrade reaches a handler before its route's requirements hold. This file
 * only wires Fastify's hooks; lib/gate/route-hooks.ts reads the routes, lib/gate/controller.ts decides.
 */
const websocketGate: FastifyPluginAsync<WebSocketGateOptions> = async (fastify, opts) => {
  const settings = readGateOptions(opts as Record<string, unknown>)
  const readiness = ensureReadiness(fastify)
  claimPart(fastify, 'the WebSocket gate')
  const gate = new GateController(readiness, settings, fastify.log, fastify.server)
  readiness.use({ websocket: gate.view(), closer: async function drainWebSockets () { await gate.drain() } })

  fastify.addHook('onRoute', gateRoutes(gate, settings))

  fastify.addHook('onReady', function checkRouteRequirements (hookDone) {
    try {
      gate.start(serverOf(fastify), fastify.server.listenerCount('upgrade'))
    } catch (err) {
      hookDone(err as Error)
      return
    }
    // Added once ready, this onClose hook runs before Fastify's own close work, so before the preClose
    // hooks, @fastify/websocket's among them (which closes every socket with no code: 1005) whichever was
    // registered first: a bare app.close() (a hand-written signal handler, close-with-grace, a test's
    // teardown) drains with the suite's close code and refuses held upgrades with 503 in either order.
    fastify.addHook('onClose', closeConnections)
    hookDone()
  })

  let refusing = false
  async function closeConnections (): Promise<void> {
    if (!refusing) for (const server of [fastify.server, ...gate.sockets.upgradeServers]) server.prependListener('upgrade', gate.refuseWhileClosing)
    refusing = true
    await readiness.closeConnections()
  }
  // An app closed before it was ready never ran onReady: the drain then runs here (a no-op after the above).
  fastify.addHook('preClose', closeConnections)
  fastify.addHook('onClose', function stopRefusing (_instance, hookDone) {
    for (const server of [fastify.server, ...gate.sockets.upgradeServers]) server.removeListener('upgrade', gate.refuseWhileClosing)
    hookDone()
  })
}

export default fp(websocketGate, {
  fastify: '5.x',
  name: WEBSOCKET_GATE_PLUGIN_NAME,
  dependencies: [PROBES_PLUGIN_NAME]
})
