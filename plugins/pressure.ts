import fp from 'fastify-plugin'
import underPressure from '@fastify/under-pressure'
import type { FastifyPluginAsync } from 'fastify'
import { ReadinessOptionError } from '../lib/errors.js'
import { Probe, type ProbeConfig } from '../lib/probe.js'
import { durationOption, enumOption, integerOption } from '../lib/options.js'
import { PROBES_PLUGIN_NAME } from './probes.js'
import { ensureReadiness, rejectUnknownPluginKeys } from './shared.js'

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

/**
 * Event-loop and memory pressure as a readiness condition. @fastify/under-pressure
 * does the sampling; its own shedding is switched off (its hook would also shed
 * the health routes, making liveness fail under load), and pressure becomes the
 * `pressure` probe instead: readiness fails (or warns), gated routes shed through
 * the gate, and /health/live stays up.
 */
const pressurePlugin: FastifyPluginAsync<PressureOptions> = async (fastify, opts) => {
  rejectUnknownPluginKeys('pressure', opts as Record<string, unknown>, ['maxEventLoopDelay', 'maxEventLoopUtilization', 'maxHeapUsedBytes', 'maxRssBytes', 'sampleInterval', 'effect'])
  const maxEventLoopDelay = durationOption('pressure.maxEventLoopDelay', opts.maxEventLoopDelay, 0, { allowZero: true })
  const maxEventLoopUtilization = opts.maxEventLoopUtilization ?? 0
  if (typeof maxEventLoopUtilization !== 'number' || !(maxEventLoopUtilization >= 0 && maxEventLoopUtilization <= 1)) {
    throw new ReadinessOptionError('pressure.maxEventLoopUtilization', `must be a number between 0 and 1, got ${String(maxEventLoopUtilization)}`)
  }
  const maxHeapUsedBytes = integerOption('pressure.maxHeapUsedBytes', opts.maxHeapUsedBytes, 0, 0)
  const maxRssBytes = integerOption('pressure.maxRssBytes', opts.maxRssBytes, 0, 0)
  const sampleInterval = durationOption('pressure.sampleInterval', opts.sampleInterval, 1000)
  const effect = enumOption('pressure.effect', opts.effect, ['fail', 'warn'] as const, 'fail')
  if (maxEventLoopDelay + maxEventLoopUtilization + maxHeapUsedBytes + maxRssBytes === 0) {
    throw new ReadinessOptionError('pressure', 'sets no threshold: give at least one of maxEventLoopDelay, maxEventLoopUtilization, maxHeapUsedBytes, maxRssBytes')
  }
  if (fastify.hasDecorator('isUnderPressure')) {
    throw new ReadinessOptionError('pressure', 'is set, but @fastify/under-pressure is already registered: configure its thresholds here instead, so it does not shed the health routes')
  }

  await fastify.register(underPressure, {
    maxEventLoopDelay,
    maxEventLoopUtilization,
    maxHeapUsedBytes,
    maxRssBytes,
    sampleInterval,
    pressureHandler: () => undefined // never shed here: the gate sheds gated routes only
  })

  const readiness = ensureReadiness(fastify)
  const reportsResults = await probeUnderstandsResults()
  readiness.addProbe(PRESSURE_PROBE, () => {
    const { eventLoopDelay, eventLoopUtilized, heapUsed, rssBytes } = fastify.memoryUsage()
    // A loop blocked for a whole sample reads as an infinite delay (JSON has no Infinity).
    const delay = Number.isFinite(eventLoopDelay) ? Math.round(eventLoopDelay) : null
    const details = { eventLoopUtilization: Math.round(eventLoopUtilized * 100) / 100, heapUsedBytes: heapUsed, rssBytes }
    const under = fastify.isUnderPressure()
    const message = `under pressure: event loop delay ${delay === null ? 'over the limit' : `${delay} ms`}, utilisation ${eventLoopUtilized.toFixed(2)}, heap ${heapUsed} B, rss ${rssBytes} B`
    // Measurements go out as data (health+json observedValue in ms, details in the JSON details);
    // the message stays for the log and for readers of lastError.
    if (reportsResults) return { status: under ? 'fail' : 'pass', observedValue: delay, observedUnit: 'ms', details, ...(under ? { message } : {}) }
    if (under) throw new Error(message)
    return undefined
  }, { interval: sampleInterval, startInterval: sampleInterval, timeout: Math.max(sampleInterval, 100), critical: effect === 'fail' })
  if (effect === 'fail') readiness.requireEverywhere(PRESSURE_PROBE)
}

/**
 * Whether the probe runner treats a check's resolved `{ status: 'fail' }` as a
 * failure (checks that report results with data). Asked once, of a throwaway
 * probe that owns nothing, so this plugin works with a runner that only knows
 * "resolve = pass, throw = fail" (where it falls back to throwing).
 */
async function probeUnderstandsResults (): Promise<boolean> {
  const probe = new Probe('pressure-capability', { check: () => ({ status: 'fail', message: 'capability check' }), timeout: 1000, interval: 1000, startInterval: 1000, critical: false, failureThreshold: 1, successThreshold: 1 } as ProbeConfig, () => {})
  return (await probe.run()) === 'fail'
}

export default fp(pressurePlugin, { fastify: '5.x', name: PRESSURE_PLUGIN_NAME, dependencies: [PROBES_PLUGIN_NAME] })
