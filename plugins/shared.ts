import type { FastifyInstance } from 'fastify'
import { Readiness, type ReadinessApi } from '../lib/readiness.js'
import type { GateMode } from '../lib/route-gate.js'
import { ReadinessOptionError } from '../lib/errors.js'
import { rejectUnknownKeys } from '../lib/options.js'

/** The suite's own view of the readiness state (wiring included); apps see `ReadinessApi`. */
export type AppReadiness = Readiness<FastifyInstance>

/** Per-route gate settings (route option `readiness`); `false` opts a route out of the gate. */
export interface RouteReadinessOptions {
  /** Phases and probes this route needs. Default: full readiness. */
  requires?: string[]
  /** Overrides the gate's mode for this route. */
  mode?: GateMode
  /** Overrides the gate's hold timeout for this route, in ms. */
  holdTimeout?: number
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

const claimed = new WeakMap<object, Set<string>>()

/**
 * Each part of the suite may be registered once per app: a second gate would
 * gate every route twice, a second health plugin fails on duplicate routes
 * with an error that does not say why. Throws an error that names the part.
 */
export function claimPart (fastify: FastifyInstance, part: string): void {
  const readiness = fastify.readiness
  let parts = claimed.get(readiness)
  if (parts === undefined) {
    parts = new Set()
    claimed.set(readiness, parts)
  }
  if (parts.has(part)) {
    throw new ReadinessOptionError('', `registers ${part} a second time in this app. Register fastify-readiness once (the umbrella already includes every part), or its parts one by one without the umbrella.`)
  }
  parts.add(part)
}

/**
 * Every plugin of the suite reads the same state; whichever is registered first
 * creates it, so each can also be registered on its own.
 */
export function ensureReadiness (fastify: FastifyInstance): AppReadiness {
  if (!fastify.hasDecorator('readiness')) {
    fastify.decorate('readiness', new Readiness<FastifyInstance>(fastify, fastify.log))
  }
  // The decorator is always this class; the public type only hides its wiring.
  return fastify.readiness as AppReadiness
}
