import type { ServerResponse } from 'node:http'
import fp from 'fastify-plugin'
import type { FastifyPluginAsync } from 'fastify'
import type {} from '@fastify/websocket'
import { ReadinessOptionError } from '../lib/common/errors.js'
import { describe, durationOption } from '../lib/common/options.js'
import { detectPlatform } from '../lib/startup/platform.js'
import { ShutdownSequence } from '../lib/shutdown/sequence.js'
import { shutdownSettings, shutdownWarnings } from '../lib/shutdown/defaults.js'
import { onShutdownSignal, otherSignalListeners, SIGNALS, type Signal } from '../lib/shutdown/signals.js'
import { runnerWarnings } from '../lib/shutdown/runners.js'
import { InFlightRequests } from '../lib/shutdown/in-flight.js'
import { Http2Sessions } from '../lib/shutdown/sessions.js'
import { claimPart, ensureReadiness } from '../lib/core/app.js'
import { option, readOptionTable } from '../lib/common/option-spec.js'
import { setImmediate as nodeSetImmediate } from 'node:timers'

export interface ShutdownPluginOptions {
  /**
   * Signals that start the shutdown sequence (default `['SIGTERM', 'SIGINT']`); a second one exits at once
   * with code 1. `false`: install no handler, call `app.readiness.shutdown()` from your own.
   */
  signals?: Signal[] | false
  /**
   * Serving delay, in ms: how long the app keeps serving after readiness turned 503, while load balancers
   * and kube-proxy stop routing here. Default by platform: Kubernetes 5000, Cloud Run 0, local 0
   * (env READINESS_SHUTDOWN_DELAY_MS overrides the default).
   */
  delayMs?: number
  /**
   * Bound on the whole sequence (delay, drain, close), in ms; past it, what was still open is logged and the
   * process exits 1. Default: the grace period minus 10% (at least 1 s, at most 5 s); locally 10 s
   * (env READINESS_SHUTDOWN_TIMEOUT_MS).
   */
  timeoutMs?: number
  /**
   * The platform's SIGTERM-to-SIGKILL time, in seconds: your pod's terminationGracePeriodSeconds.
   * Default: Kubernetes 30, Cloud Run 10, local none (env READINESS_GRACE_PERIOD_SECONDS).
   */
  gracePeriodSeconds?: number
}

export const SHUTDOWN_PLUGIN_NAME = 'fastify-readiness-shutdown'

/** The shutdown plugin's options: the allow-list and the defaults come from here. */
export const SHUTDOWN_OPTIONS = {
  signals: option("signals that start the sequence (default ['SIGTERM', 'SIGINT']); false installs none", (_path, v) => parseSignals(v)),
  delayMs: option('serving delay after readiness turned 503, in ms (default by platform: Kubernetes 5000, else 0)', (path, v) => v === undefined ? undefined : durationOption(path, v, 0, { allowZero: true })),
  timeoutMs: option('bound on the whole sequence, in ms (default: the grace period minus 10%; locally 10000)', (path, v) => v === undefined ? undefined : durationOption(path, v, 0)),
  gracePeriodSeconds: option("the platform's SIGTERM-to-SIGKILL time, in seconds (your terminationGracePeriodSeconds)", (_path, v) => parseGrace(v))
}

/** Keys renamed in 0.3.0 (one unit convention: ...Ms; gracePeriodSeconds mirrors Kubernetes). */
export const SHUTDOWN_RENAMED = { delay: 'delayMs', timeout: 'timeoutMs' }

/**
 * Shutdown the way Kubernetes and Cloud Run terminate instances: one sequence
 * (`app.readiness.shutdown()`), run by the first SIGTERM/SIGINT through
 * close-with-grace, bounded by a timeout that fits the platform's grace period.
 */
const shutdownPlugin: FastifyPluginAsync<ShutdownPluginOptions> = async (fastify, opts) => {
  const { signals, delayMs, timeoutMs, gracePeriodSeconds } = readOptionTable('shutdown', opts as Record<string, unknown>, SHUTDOWN_OPTIONS, { renamed: SHUTDOWN_RENAMED })
  const platform = detectPlatform(process.env)
  const settings = shutdownSettings({ platform: platform.name, env: process.env, delay: delayMs, timeout: timeoutMs, gracePeriodSeconds })
  const readiness = ensureReadiness(fastify)
  claimPart(fastify, 'the shutdown sequence')

  // In-flight requests, which the close waits for and a timed-out shutdown names (upgrades are counted as
  // sockets by the gate), and HTTP/2 sessions, which the close tells to go away. Per request, a Map write
  // from each of two Node diagnostics channels, and no hook or listener until a drain begins (lib/shutdown/in-flight.ts).
  const inFlight = new InFlightRequests(fastify.server)
  inFlight.start()
  const sessions = new Http2Sessions(fastify.server as unknown as ConstructorParameters<typeof Http2Sessions>[0])
  fastify.addHook('onClose', function stopCounting (_instance, hookDone) {
    inFlight.stop()
    sessions.stop()
    hookDone()
  })

  const sequence = new ShutdownSequence({
    startDraining: () => {
      readiness.startDraining()
      inFlight.drain(endKeepAlive)
    },
    startupRunning: () => readiness.startupState === 'running',
    abortStartup: () => { void readiness.close() },
    closeConnections: async () => await readiness.closeConnections(),
    close: async () => {
      const closed = fastify.close()
      sessions.goAway()
      // server.close() ends idle keep-alive connections, but not one that never finished a request (a
      // browser's preconnect, a slow or stuck client): it would hold the close until shutdown.timeoutMs.
      // Once no request is in flight, every connection left is one of those.
      await inFlight.idle()
      closeAllConnections(fastify.server)
      await closed
      // listen({ host: 'localhost' }) can open a second server, whose close Fastify does not wait for:
      // its requests are counted here too, and the process must not exit under them.
      await inFlight.idle()
    },
    openWork: () => {
      const ws = readiness.websocket?.getConnectionReadiness()
      return { inFlightRequests: inFlight.size, http2Sessions: sessions.size, openSockets: ws?.open ?? 0, heldUpgrades: ws?.held ?? 0 }
    }
  }, settings, fastify.log)
  readiness.use({ shutdown: async () => await sequence.run() })

  // With signals: false the app is still known to the process-wide handler (listening to no signal), so
  // another app's signal does not exit the process under it.
  const unsubscribe = onShutdownSignal(signals === false ? [] : signals, { run: async (signal) => await sequence.run(signal), log: fastify.log })
  fastify.addHook('onClose', function uninstallSignalHandlers (_instance, hookDone) {
    unsubscribe()
    hookDone()
  })

  fastify.addHook('onReady', function checkShutdownBudget (hookDone) {
    const drainBudgetMs = readiness.websocket?.drainBudgetMs ?? 0
    fastify.log.info({ platform: platform.name, signals, delayMs: settings.delay, timeoutMs: settings.timeout, gracePeriodMs: settings.graceMs ?? null, drainBudgetMs, sources: settings.sources }, 'shutdown configured')
    for (const warning of shutdownWarnings({ settings, drainBudgetMs })) fastify.log.warn({ platform: platform.name }, `fastify-readiness: ${warning}`)
    // A runner's or the app's own listener of the same signals (close-with-grace under fastify-cli, a
    // hand-written one) is installed by now: its app.close() runs the sequence first (below), but a
    // force-exit shorter than the sequence cuts it, which is said here, with the fix.
    const others = signals === false ? [] : otherSignalListeners(signals)
    for (const warning of runnerWarnings({ others, argv: process.argv, env: process.env, timeoutMs: settings.timeout })) fastify.log.warn({ otherListeners: others }, `fastify-readiness: ${warning}`)
    // An app.close() called by someone else (close-with-grace in fastify-cli's `fastify start` and in its
    // generated server.js, a hand-written signal handler) would close the routes at once (Fastify's
    // return503OnClosing) and so skip the delay the platform needs. An onClose hook added once the app is
    // ready runs before Fastify's own close work (its preClose hooks, closing the routes, the server's
    // close): when the suite's signal listener has started the sequence, that close waits here until the
    // sequence has served through its delay and drained, and Fastify then closes as the sequence would.
    fastify.addHook('onClose', async function runTheSequenceFirst () {
      // In the same signal, the caller's listener may have run before the suite's. Node's own setImmediate,
      // not the global: a test's fake timers (sinon) replace the global and would hold every close forever.
      await new Promise((resolve) => nodeSetImmediate(resolve))
      if (sequence.started) await sequence.untilClosing()
    })
    hookDone()
  })
}

/**
 * From the first step on, every response ends its keep-alive connection: the client's next request opens a
 * new one, which kube-proxy or the load balancer sends to another instance. Otherwise a client pinned to an
 * idle keep-alive connection races the close, whose reset it sees as a failed request. Node merges a header
 * set here with those Fastify writes.
 */
function endKeepAlive (response: ServerResponse): void {
  if (!response.headersSent) response.setHeader('connection', 'close')
}

function closeAllConnections (server: unknown): void {
  // node:http and node:https servers have it; an HTTP/2 server does not (its sessions were told to go away).
  const close = (server as { closeAllConnections?: () => void }).closeAllConnections
  if (typeof close === 'function') close.call(server)
}

function parseSignals (value: unknown): Signal[] | false {
  if (value === undefined) return ['SIGTERM', 'SIGINT']
  if (value === false) return false
  if (!Array.isArray(value) || value.length === 0 || value.some((s) => !(SIGNALS as readonly unknown[]).includes(s))) {
    throw new ReadinessOptionError('shutdown.signals', `must be false or a non-empty array of ${SIGNALS.join(', ')}, got ${describe(value)}`)
  }
  if (new Set(value).size !== value.length) throw new ReadinessOptionError('shutdown.signals', 'names a signal twice')
  return value as Signal[]
}

function parseGrace (value: unknown): number | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 86_400) {
    throw new ReadinessOptionError('shutdown.gracePeriodSeconds', `must be a whole number of seconds from 1 to 86400 (your terminationGracePeriodSeconds), got ${describe(value)}`)
  }
  return value
}

export default fp(shutdownPlugin, { fastify: '5.x', name: SHUTDOWN_PLUGIN_NAME })
