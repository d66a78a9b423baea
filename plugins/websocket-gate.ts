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

  // Whether @fastify/websocket's onRoute hook runs before the gate's (lib/gate/route-hooks.ts).
  fastify.addHook('onRoute', gateRoutes(gate, settings, { websocketFirst: serverOf(fastify) !== undefined }))

  fastify.addHook('onReady', function checkRouteRequirements (hookDone) {
    try {
      gate.start(serverOf(fastify), fastify.server.listenerCount('upgrade'))
    } catch (err) {
      hookDone(err as Error)
      return
    }
    // Added once ready, this onClose hook runs before Fastify's own close work, so before the preClose
    // hooks, @fastify/websocket's among them, whichever was registered first.
    fastify.addHook('onClose', suiteCodeForCodelessCloses)
    hookDone()
  })

  // A bare app.close() (a hand-written signal handler, close-with-grace, a test's teardown) with
  // @fastify/websocket registered first ran its default preClose first, which closes every socket with no
  // code: 1005. From the close on, a socket closed with no code gets the suite's code and reason instead; a
  // preClose of the app's own that names a code (its @fastify/websocket `preClose` option) keeps it. The
  // suite's preClose then drains what is left and refuses held upgrades with 503, in either order.
  function suiteCodeForCodelessCloses (_instance: unknown, hookDone: () => void): void {
    for (const socket of gate.sockets.all(gate.registry.routes.values())) {
      const close = socket.close.bind(socket)
      socket.close = (code?: number, reason?: string | Buffer) => { code === undefined ? close(settings.closeCode, settings.closeReason) : close(code, reason) }
    }
    hookDone()
  }

  let refusing = false
  async function closeConnections (): Promise<void> {
    if (!refusing) for (const server of [fastify.server, ...gate.sockets.upgradeServers]) server.prependListener('upgrade', gate.refuseWhileClosing)
    refusing = true
    await readiness.closeConnections()
  }
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
