import { newSessionId, SESSION_ID } from './frames.js'
import type { ReadinessClientOptions } from './types.js'

/** The client's `delivery` option, read: null without delivery. */
export interface DeliverySettings {
  /** The id the app chose (or a fresh random one): a label the server's handler sees as `ctx.session`. */
  sessionId: string
  /** This client object's own id, fresh each time: its numbers start at 1, so the server windows on both. */
  incarnation: string
  heartbeatMs: number
  heartbeatTimeoutMs: number
}

const MAX_TIMER_MS = 2_147_483_647

function msOption (name: string, value: unknown, fallback: number, min: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > MAX_TIMER_MS) {
    throw new RangeError(`fastify-readiness/client: ${name} must be a finite number in [${min}, ${MAX_TIMER_MS}], got ${String(value)}`)
  }
  return value
}

export function readDeliveryOption (name: string, value: ReadinessClientOptions['delivery']): DeliverySettings | null {
  if (value === undefined || value === false) return null
  const options = value === true ? {} : value
  if (typeof options !== 'object' || options === null) throw new TypeError(`fastify-readiness/client: ${name} must be true, false or an object`)
  const id = options.sessionId
  if (id !== undefined && (typeof id !== 'string' || !SESSION_ID.test(id))) throw new TypeError(`fastify-readiness/client: ${name}.sessionId must be 8-64 characters of [A-Za-z0-9_-]`)
  return {
    sessionId: id ?? newSessionId(),
    incarnation: newSessionId().slice(0, 16),
    heartbeatMs: msOption(`${name}.heartbeatMs`, options.heartbeatMs, 5000, 0),
    heartbeatTimeoutMs: msOption(`${name}.heartbeatTimeoutMs`, options.heartbeatTimeoutMs, 3000, 1)
  }
}
