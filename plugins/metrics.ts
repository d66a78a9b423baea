import fp from 'fastify-plugin'
import type { FastifyPluginAsync } from 'fastify'
import { createNoopMeter, metrics, type MeterProvider } from '@opentelemetry/api'
import { ReadinessOptionError } from '../lib/common/errors.js'
import { describe } from '../lib/common/options.js'
import { bindReadinessMetrics } from '../lib/metrics/index.js'
import { claimPart, ensureReadiness, rejectUnknownPluginKeys } from '../lib/core/app.js'

export interface MetricsPluginOptions {
  /**
   * Where the instruments come from. Default: the global provider of `@opentelemetry/api`
   * (`metrics.setGlobalMeterProvider`, which the OpenTelemetry SDK's setup calls), read when the app
   * becomes ready, so the SDK may be installed any time before `listen()`.
   */
  meterProvider?: MeterProvider
}

export const METRICS_PLUGIN_NAME = 'fastify-readiness-metrics'
/** The instrumentation scope the instruments are created in. */
export const METER_NAME = 'fastify-readiness'

/**
 * OpenTelemetry metrics of the readiness state and the gate. On by default in
 * the umbrella because it costs nothing without an SDK: when the provider
 * hands out the API's no-op meter, nothing is subscribed at all.
 */
const metricsPlugin: FastifyPluginAsync<MetricsPluginOptions> = async (fastify, opts) => {
  rejectUnknownPluginKeys('metrics', opts as Record<string, unknown>, ['meterProvider'])
  const provider = opts.meterProvider
  if (provider !== undefined && typeof (provider as { getMeter?: unknown } | null)?.getMeter !== 'function') {
    throw new ReadinessOptionError('metrics.meterProvider', `must be an OpenTelemetry MeterProvider (with getMeter()), got ${describe(provider)}`)
  }
  const readiness = ensureReadiness(fastify)
  claimPart(fastify, 'the metrics')
  let unbind: (() => void) | null = null

  // Bound before probes start and phases run (this plugin's onReady comes first in the umbrella).
  fastify.addHook('onReady', function bindMetrics (hookDone) {
    const meter = (provider ?? metrics.getMeterProvider()).getMeter(METER_NAME)
    if (meter !== createNoopMeter()) unbind = bindReadinessMetrics(readiness, meter)
    hookDone()
  })
  fastify.addHook('onClose', function unbindMetrics (_instance, hookDone) {
    unbind?.()
    unbind = null
    hookDone()
  })
}

export default fp(metricsPlugin, { fastify: '5.x', name: METRICS_PLUGIN_NAME })
