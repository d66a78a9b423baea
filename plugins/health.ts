import fp from 'fastify-plugin'
import type { FastifyPluginAsync } from 'fastify'
import { ReadinessOptionError } from '../lib/common/errors.js'
import { claimPart, ensureReadiness } from '../lib/core/app.js'
import { readHealthOptions, type HealthPluginOptions } from '../lib/health/options.js'
import { healthResponder, healthRoutes } from '../lib/health/responder.js'
import { PROBES_PLUGIN_NAME } from './probes.js'

export type { DetailsPolicy } from '../lib/health/details-policy.js'
export type { HealthGroupOptions, HealthPluginOptions } from '../lib/health/options.js'

export const HEALTH_PLUGIN_NAME = 'fastify-readiness-health'

/**
 * The health routes (live, startup, ready, websocket, and groups). This file only registers them;
 * lib/health/options.ts reads the options, lib/health/responder.ts answers.
 */
const healthPlugin: FastifyPluginAsync<HealthPluginOptions> = async (fastify, opts) => {
  const settings = readHealthOptions(opts as Record<string, unknown>)
  const readiness = ensureReadiness(fastify)
  claimPart(fastify, 'the health routes')
  const answer = healthResponder(readiness, settings)

  const seen = new Set<string>()
  for (const route of healthRoutes(readiness, settings)) {
    for (const url of route.paths) {
      if (seen.has(url)) throw new ReadinessOptionError('health', `serves "${url}" twice: check additionalPaths and the groups' additionalPath`)
      seen.add(url)
      fastify.route({
        method: ['GET', 'HEAD'],
        url,
        exposeHeadRoute: false,
        logLevel: settings.logLevel,
        // Health routes must answer in every state: never gated by the suite.
        readiness: false,
        handler: (request, reply) => answer(request, reply, route)
      })
    }
  }

  const groups = Object.entries(settings.groups)
  if (groups.length > 0) {
    fastify.addHook('onReady', async function checkGroups () {
      for (const [name, group] of groups) {
        if (group.include !== undefined) readiness.assertKnown(group.includePath, group.include)
        readiness.assertKnown(`health.groups.${name}.exclude`, group.exclude)
      }
    })
  }
}

export default fp(healthPlugin, { fastify: '5.x', name: HEALTH_PLUGIN_NAME, dependencies: [PROBES_PLUGIN_NAME] })
