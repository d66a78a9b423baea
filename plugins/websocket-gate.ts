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
    hookDone()
  })

  // Runs before @fastify/websocket's own preClose (which closes sockets with no code, 1005) when the
  // suite is registered first; registered after it, that preClose (or the app's own) runs first and
  // this drains what it left. The shutdown sequence drains before app.close() in both layouts.
  fastify.addHook('preClose', async function closeConnections () {
    for (const server of [fastify.server, ...gate.sockets.upgradeServers]) server.prependListener('upgrade', gate.refuseWhileClosing)
    await readiness.closeConnections()
  })
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
