import fp from 'fastify-plugin'
import type { FastifyPluginAsync } from 'fastify'
import { objectOption } from '../lib/common/options.js'
import type { ProbeDefinition } from '../lib/probes/options.js'
import { claimPart, ensureReadiness, rejectUnknownPluginKeys } from '../lib/core/app.js'

export interface ProbesPluginOptions {
  /** Named dependency checks: a bare `async (signal) => {}` or `{ check, timeout, interval, critical, ... }`. */
  probes?: Record<string, ProbeDefinition>
}

export const PROBES_PLUGIN_NAME = 'fastify-readiness-probes'

/**
 * Owns the readiness state and the probes: creates `app.readiness`, adds the
 * configured checks, starts polling once the app is ready and stops every
 * timer when it closes.
 */
const probesPlugin: FastifyPluginAsync<ProbesPluginOptions> = async (fastify, opts) => {
  rejectUnknownPluginKeys('', opts as Record<string, unknown>, ['probes'])
  const readiness = ensureReadiness(fastify)
  claimPart(fastify, 'the probes plugin')
  const probes = objectOption('probes', opts.probes)
  for (const [name, definition] of Object.entries(probes)) {
    readiness.addProbe(name, definition as ProbeDefinition)
  }
  fastify.addHook('onReady', function startProbes (hookDone) {
    readiness.startProbes()
    hookDone()
  })
  // Shutdown turns readiness off before anything else closes (the WebSocket
  // gate's drain does the same, earlier, when it is registered).
  fastify.addHook('preClose', function stopBeingReady (hookDone) {
    readiness.startClosing()
    hookDone()
  })
  fastify.addHook('onClose', async function stopProbes () {
    await readiness.close()
  })
}

export default fp(probesPlugin, { fastify: '5.x', name: PROBES_PLUGIN_NAME })
