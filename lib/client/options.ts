import { DEFAULT_BACKOFF, MAX_TIMER_MS, type BackoffSettings } from './backoff.js'
import { readDeliveryOption } from './delivery-options.js'
import type { ReadinessClientOptions, WebSocketConstructor } from './types.js'

/**
 * The client's options, read once by one table: each key's parser checks its value and holds its default.
 * Browser code: it throws TypeError / RangeError naming the option (lib/common's option errors import Node).
 */

const DEFAULT_FINAL = [1000, 1008]

/**
 * A held upgrade is the fastest way in (the gate lets it through the instant the route is ready), so the
 * client must not give up on one before the gate does: the gate's derived hold ends at its
 * maxHoldTimeoutMs, 60 s by default (42.1 s for a probes-only start), then answers 503. 65 s outlasts that
 * with room for a loaded machine or a proxy; a silent server costs one attempt a minute and 65 s.
 */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 65_000

type Parse<T> = (name: string, value: any) => T

function num (fallback: number, min: number, max: number): Parse<number> {
  return (name, value: number | undefined) => {
    if (value === undefined) return fallback
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
      throw new RangeError(`fastify-readiness/client: ${name} must be a finite number in [${min}, ${max}], got ${String(value)}`)
    }
    return value
  }
}

/** A delay in ms a timer can wait (setTimeout turns anything above 2^31 - 1 into 1 ms). */
const ms = (fallback: number, min: number): Parse<number> => num(fallback, min, MAX_TIMER_MS)

const BACKOFF_TABLE = {
  initialMs: ms(DEFAULT_BACKOFF.initialMs, 1),
  maxMs: ms(DEFAULT_BACKOFF.maxMs, 1),
  factor: num(DEFAULT_BACKOFF.factor, 1, 100),
  hintFloorMs: ms(DEFAULT_BACKOFF.hintFloorMs, 0),
  hintCeilingMs: ms(DEFAULT_BACKOFF.hintCeilingMs, 0)
} satisfies Record<keyof BackoffSettings, Parse<number>>

const TABLE = {
  WebSocket: (_name: string, value: WebSocketConstructor | undefined): WebSocketConstructor => {
    const Ctor = value ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket
    if (Ctor === undefined) throw new TypeError('fastify-readiness/client: no WebSocket implementation: pass { WebSocket } (the ws package in Node)')
    return Ctor
  },
  protocols: (_name: string, value: string | string[] | undefined) => value,
  backoff: (name: string, value: ReadinessClientOptions['backoff']): BackoffSettings => {
    const settings = readTable(`${name}.`, value ?? {}, BACKOFF_TABLE)
    if (settings.hintFloorMs > settings.hintCeilingMs) throw new RangeError('fastify-readiness/client: backoff.hintFloorMs must not exceed backoff.hintCeilingMs')
    return settings
  },
  healthyAfterMs: ms(5000, 0),
  handshakeTimeoutMs: ms(DEFAULT_HANDSHAKE_TIMEOUT_MS, 1),
  maxAttempts: (name: string, value: number | undefined): number => {
    const maxAttempts = value ?? Infinity
    if (maxAttempts !== Infinity && !(Number.isSafeInteger(maxAttempts) && maxAttempts >= 1)) {
      throw new RangeError(`fastify-readiness/client: ${name} must be an integer >= 1 (or Infinity: no limit), got ${String(maxAttempts)}`)
    }
    return maxAttempts
  },
  maxElapsedMs: (name: string, value: number | undefined): number => value === undefined || value === Infinity ? Infinity : ms(0, 0)(name, value),
  maxBuffered: num(100, 0, Number.MAX_SAFE_INTEGER),
  finalCodes: (_name: string, value: number[] | undefined): number[] => (value ?? []).concat(DEFAULT_FINAL),
  healthUrl: (_name: string, value: string | undefined) => value,
  random: (_name: string, value: (() => number) | undefined): () => number => value ?? Math.random,
  /** Session id, incarnation and live-peer check (delivery-options.ts), or null without delivery. */
  delivery: readDeliveryOption
} satisfies Record<keyof ReadinessClientOptions, Parse<unknown>>

type Parsed<T extends Record<string, Parse<unknown>>> = { [K in keyof T]: ReturnType<T[K]> }

/** Parses every key of `table`, in its order, from `values`. */
function readTable<T extends Record<string, Parse<unknown>>> (prefix: string, values: object, table: T): Parsed<T> {
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(table)) out[key] = (table[key] as Parse<unknown>)(prefix + key, (values as Record<string, unknown>)[key])
  return out as Parsed<T>
}

export type ClientSettings = Parsed<typeof TABLE>

export function readClientOptions (options: ReadinessClientOptions): ClientSettings {
  return readTable('', options, TABLE)
}
