import type { FastifyInstance } from 'fastify'
import { Readiness, type ReadinessApi } from './readiness.js'
import type { GateMode } from './websocket-view.js'
import { rejectUnknownKeys } from '../common/options.js'
import { ReadinessRegistrationError } from '../common/errors.js'

/** The suite's own view of the readiness state (wiring included); apps see `ReadinessApi`. */
export type AppReadiness = Readiness<FastifyInstance>

/** Per-route gate settings (route option `readiness`); `false` opts a route out of the gate. */
export interface RouteReadinessOptions {
  /** Phases and probes this route needs. Default: full readiness. */
  requires?: string[]
  /** Overrides the gate's mode for this route. */
  mode?: GateMode
  /** Overrides the gate's hold timeout for this route, in ms. */
  holdTimeoutMs?: number
  /** When a requirement is lost after ready, close this route's open sockets with 1013. */
  closeOnLoss?: boolean
  /** Gate a plain HTTP route too (WebSocket routes are gated without it). */
  gate?: boolean
}

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * The readiness state of this app: one source of truth for health routes and the WebSocket gate.
     * Typed as what an app may call (state, waits, events, probes, manual control, shutdown).
     */
    readonly readiness: ReadinessApi
  }
  interface RouteShorthandOptions {
    readiness?: RouteReadinessOptions | false
  }
  interface RouteOptions {
    readiness?: RouteReadinessOptions | false
  }
}

/** Registration keys Fastify itself may pass along with a plugin's options. */
const FASTIFY_KEYS = ['prefix', 'logLevel', 'logSerializers'] as const

export function rejectUnknownPluginKeys (path: string, opts: Record<string, unknown>, allowed: readonly string[]): void {
  rejectUnknownKeys(path, opts, [...allowed, ...FASTIFY_KEYS])
}

// Lives with the other errors; re-exported where it was.
export { ReadinessRegistrationError } from '../common/errors.js'

/**
 * Keyed by the HTTP server, which every encapsulation context of one app shares: two suites in
 * sibling plugins (each with a state of its own) would otherwise both gate and both answer
 * /health/*, and fail later on a duplicated route with an error that does not say why.
 */
const claimed = new WeakMap<object, Set<string>>()

/**
 * Each part of the suite may be registered once per app: a second gate would
 * gate every route twice, a second health plugin fails on duplicate routes
 * with an error that does not say why. Throws an error that names the part.
 */
export function claimPart (fastify: FastifyInstance, part: string): void {
  let parts = claimed.get(fastify.server)
  if (parts === undefined) {
    parts = new Set()
    claimed.set(fastify.server, parts)
  }
  if (parts.has(part)) throw new ReadinessRegistrationError(part)
  parts.add(part)
  // A closed app gives its server back: @fastify/restartable builds the next app on the same one.
  const owned = parts
  fastify.addHook('onClose', function releasePart (_instance, hookDone) {
    owned.delete(part)
    hookDone()
  })
}

/**
 * Every plugin of the suite reads the same state; whichever is registered first
 * creates it, so each can also be registered on its own.
 */
export function ensureReadiness (fastify: FastifyInstance): AppReadiness {
  if (!fastify.hasDecorator('readiness')) {
    fastify.decorate('readiness', new Readiness<FastifyInstance>(fastify, fastify.log))
    warnIfEncapsulated(fastify)
  }
  // The decorator is always this class; the public type only hides its wiring.
  return fastify.readiness as AppReadiness
}

/**
 * Fastify names the root context "fastify" and prefixes the names of the plugins that share it
 * ("fastify -> a -> b"); a plugin not wrapped in fastify-plugin starts a name of its own. The gate
 * still guards every upgrade from there (its backstop sits on the ws server), but `app.readiness`
 * and the routes' `readiness` options are only seen inside that plugin. That is no mistake when the
 * whole app lives in that plugin: fastify-cli's `fastify start app.js` and the standard server.js
 * register app.js unwrapped, and with @fastify/autoload its routes/ are children of it, seen by the
 * suite. So the warning waits for the routes: it comes, once, at start, when that plugin holds no
 * route of the app's own (the suite beside the routes, as in a sibling plugin, sees none of them).
 */
function warnIfEncapsulated (fastify: FastifyInstance): void {
  const name = fastify.pluginName
  if (name === 'fastify' || name.startsWith('fastify -> ')) return
  const plugin = name.split(' -> ')[0]?.split(' -- ')[0]?.slice(0, 80) ?? ''
  let appRoutes = 0
  fastify.addHook('onRoute', function countAppRoutes (this: FastifyInstance) {
    // The suite's own routes (health, status page) are registered from a context named after its plugins.
    if (!this.pluginName.includes('fastify-readiness')) appRoutes++
  })
  fastify.addHook('onReady', function warnWhenAlone (hookDone) {
    if (appRoutes === 0) fastify.log.warn({ plugin }, `fastify-readiness is registered inside the encapsulated plugin "${plugin}", which holds none of the app's routes: app.readiness, and readiness options on routes outside that plugin, are not seen at the root. Wrap that plugin with fastify-plugin, or register fastify-readiness at the root (docs/configuration.md, "Where to register").`)
    hookDone()
  })
}
