import fp from 'fastify-plugin'
import underPressure from '@fastify/under-pressure'
import type { FastifyInstance, FastifyPluginAsync } from 'fastify'
import { ReadinessOptionError } from '../lib/common/errors.js'
import { describe, durationOption, enumOption, integerOption } from '../lib/common/options.js'
import { PROBES_PLUGIN_NAME } from './probes.js'
import { claimPart, ensureReadiness } from '../lib/core/app.js'
import { option, readOptionTable } from '../lib/common/option-spec.js'

export interface PressureOptions {
  /** Event-loop delay above which the instance is under pressure, in ms. */
  maxEventLoopDelay?: number
  /** Event-loop utilisation (0..1) above which the instance is under pressure. */
  maxEventLoopUtilization?: number
  maxHeapUsedBytes?: number
  maxRssBytes?: number
  /** How often under-pressure samples, in ms (default 1000). */
  sampleInterval?: number
  /** `fail` (default): not ready, gated routes shed with 503 + Retry-After. `warn`: degraded only. */
  effect?: 'fail' | 'warn'
}

export const PRESSURE_PLUGIN_NAME = 'fastify-readiness-pressure'
export const PRESSURE_PROBE = 'pressure'

const THRESHOLDS = ['maxEventLoopDelay', 'maxEventLoopUtilization', 'maxHeapUsedBytes', 'maxRssBytes'] as const

/** The pressure options: @fastify/under-pressure's own names, passed through to it (so no `Ms` suffix). */
export const PRESSURE_OPTIONS = {
  maxEventLoopDelay: option('Event-loop delay above which the instance is under pressure, in ms (0: off).', (path, value) => durationOption(path, value, 0, { allowZero: true })),
  maxEventLoopUtilization: option('Event-loop utilisation (0..1) above which the instance is under pressure (0: off).', (path, value) => {
    const elu = value ?? 0
    if (typeof elu !== 'number' || !(elu >= 0 && elu <= 1)) throw new ReadinessOptionError(path, `must be a number between 0 and 1, got ${describe(elu)}`)
    return elu
  }),
  maxHeapUsedBytes: option('Heap used above which the instance is under pressure, in bytes (0: off).', (path, value) => integerOption(path, value, 0, 0)),
  maxRssBytes: option('RSS above which the instance is under pressure, in bytes (0: off).', (path, value) => integerOption(path, value, 0, 0)),
  sampleInterval: option('How often under-pressure samples, in ms (default 1000).', (path, value) => durationOption(path, value, 1000)),
  effect: option('`fail` (default): not ready, gated routes shed; `warn`: degraded only.', (path, value) => enumOption(path, value, ['fail', 'warn'] as const, 'fail'))
}

/**
 * Event-loop and memory pressure as a readiness condition. @fastify/under-pressure
 * does the sampling; its own shedding is switched off (its hook would also shed
 * the health routes, making liveness fail under load), and pressure becomes the
 * `pressure` probe instead: readiness fails (or warns), gated routes shed through
 * the gate, and /health/live stays up.
 */
const pressurePlugin: FastifyPluginAsync<PressureOptions> = async (fastify, opts) => {
  const { maxEventLoopDelay, maxEventLoopUtilization, maxHeapUsedBytes, maxRssBytes, sampleInterval, effect } = readOptionTable('pressure', opts as Record<string, unknown>, PRESSURE_OPTIONS)
  if (maxEventLoopDelay + maxEventLoopUtilization + maxHeapUsedBytes + maxRssBytes === 0) {
    // A single threshold set to 0 is the mistake to name (0 means "off" for under-pressure), not the section.
    const given = THRESHOLDS.filter((key) => opts[key] !== undefined)
    const option = given.length === 1 ? `pressure.${given[0]}` : 'pressure'
    throw new ReadinessOptionError(option, `sets no threshold (0 turns a threshold off): give at least one of ${THRESHOLDS.join(', ')} above 0`)
  }
  claimPart(fastify, 'the pressure probe')
  // Sampled by an @fastify/under-pressure of our own, registered in a child context of its own: its
  // decorators, its onRequest hook and its shedding stay in there, where no route is. So it never sheds an
  // app route (a route's config.pressureHandler included) and coexists with an @fastify/under-pressure the
  // app registers itself, in either order.
  let sampler: Pick<FastifyInstance, 'isUnderPressure' | 'memoryUsage'> | null = null
  await fastify.register(async function pressureSampler (child) {
    await child.register(underPressure, {
      maxEventLoopDelay,
      maxEventLoopUtilization,
      maxHeapUsedBytes,
      maxRssBytes,
      sampleInterval,
      pressureHandler: () => undefined
    })
    sampler = child
  })

  const readiness = ensureReadiness(fastify)
  readiness.addProbe(PRESSURE_PROBE, () => {
    if (sampler === null) return undefined // not sampled before ready
    const { eventLoopDelay, eventLoopUtilized, heapUsed, rssBytes } = sampler.memoryUsage()
    // A loop blocked for a whole sample reads as an infinite delay (JSON has no Infinity).
    const delay = Number.isFinite(eventLoopDelay) ? Math.round(eventLoopDelay) : null
    const details = { eventLoopUtilization: Math.round(eventLoopUtilized * 100) / 100, heapUsedBytes: heapUsed, rssBytes }
    const under = sampler.isUnderPressure()
    const message = `under pressure: event loop delay ${delay === null ? 'over the limit' : `${delay} ms`}, utilisation ${eventLoopUtilized.toFixed(2)}, heap ${heapUsed} B, rss ${rssBytes} B`
    // Measurements go out as data (health+json observedValue in ms, details in the JSON details);
    // the message stays for the log and for readers of lastError.
    return { status: under ? 'fail' : 'pass', observedValue: delay, observedUnit: 'ms', details, ...(under ? { message } : {}) }
  }, { intervalMs: sampleInterval, startIntervalMs: sampleInterval, timeoutMs: Math.max(sampleInterval, 100), critical: effect === 'fail' })
  if (effect === 'fail') readiness.requireEverywhere(PRESSURE_PROBE)
}

export default fp(pressurePlugin, { fastify: '5.x', name: PRESSURE_PLUGIN_NAME, dependencies: [PROBES_PLUGIN_NAME] })
