import { types } from 'node:util'
import type { DeliveryContext } from '../delivery/types.js'

/**
 * Thrown at registration (or from `ready()` for checks that need the whole app)
 * when an option is wrong. The message always names the option path, so a user
 * never has to guess which of many nested settings was rejected.
 */
export class ReadinessOptionError extends Error {
  readonly code = 'FST_READINESS_INVALID_OPTION'
  readonly option: string

  constructor (option: string, problem: string) {
    super(`fastify-readiness: option "${option}" ${problem}`)
    this.name = 'ReadinessOptionError'
    this.option = option
  }
}

/** A probe run that outlived its timeout. */
export class ProbeTimeoutError extends Error {
  readonly code = 'FST_READINESS_PROBE_TIMEOUT'

  constructor (probe: string, timeout: number, detail = '') {
    super(`probe "${probe}" timed out after ${timeout} ms${detail}`)
    this.name = 'ProbeTimeoutError'
  }
}

/** A startup phase that failed, timed out, or could not start because a phase before it failed. */
export class PhaseError extends Error {
  readonly code = 'FST_READINESS_PHASE_FAILED'
  readonly phase: string

  constructor (phase: string, message: string, options?: { cause?: unknown }) {
    super(`startup phase "${phase}" ${message}`, options)
    this.name = 'PhaseError'
    this.phase = phase
  }
}

/** Waiting for readiness (a phase, a route's requirements) ran out of time. */
export class WaitTimeoutError extends Error {
  readonly code = 'FST_READINESS_WAIT_TIMEOUT'

  constructor (what: string, timeout: number) {
    super(`${what} not ready after ${timeout} ms`)
    this.name = 'WaitTimeoutError'
  }
}

/** Thrown when a part of the suite is registered twice in one app: not an option, a layout. */
export class ReadinessRegistrationError extends Error {
  readonly code = 'FST_READINESS_REGISTERED_TWICE'
  readonly part: string

  constructor (part: string) {
    super(`fastify-readiness: this app registers ${part} a second time. Register fastify-readiness once, at the root (the umbrella already includes every part), or its parts one by one without the umbrella.`)
    this.name = 'ReadinessRegistrationError'
    this.part = part
  }
}

export type ShutdownStage = 'idle' | 'delay' | 'drain' | 'close' | 'done'

/** The shutdown sequence outlived `shutdown.timeoutMs`; `open` is what was still open. */
export class ShutdownTimeoutError extends Error {
  readonly code = 'FST_READINESS_SHUTDOWN_TIMEOUT'
  readonly stage: ShutdownStage
  readonly open: Record<string, unknown>

  constructor (timeout: number, stage: ShutdownStage, open: Record<string, unknown>) {
    super(`shutdown did not finish within shutdown.timeoutMs ${timeout} ms (stuck in its ${stage} step)`)
    this.name = 'ShutdownTimeoutError'
    this.stage = stage
    this.open = open
  }
}

/** Longest message an error keeps after `toError` (redaction keeps far less: see redact.ts). */
export const MAX_ERROR_MESSAGE = 16 * 1024

/**
 * Turns anything a check or phase can throw into an Error whose `name`,
 * `message` and `code` can be read without running user code. A check may
 * throw `Object.create(null)`, a Proxy, an object whose `toString` throws or an
 * Error whose getters throw: reading those unguarded crashed the process (issue 16).
 * A well-behaved Error (plain data properties, no Proxy) is returned as is, so
 * callers keep its class, stack and cause.
 */
export function toError (value: unknown): Error {
  if (isWellBehavedError(value)) return value
  const message = bound(safeString(value, 'non-error value thrown: '))
  const error = new Error(message)
  if (isError(value)) {
    const name = safeRead(value, 'name')
    if (typeof name === 'string' && name !== '') error.name = name.slice(0, 100)
    const code = safeRead(value, 'code')
    if (typeof code === 'string' || typeof code === 'number') (error as Error & { code?: string }).code = String(code).slice(0, 100)
  }
  return error
}

/** Reads a property, turning a throwing getter or Proxy trap into `undefined`. */
export function safeRead (value: unknown, key: string): unknown {
  if ((typeof value !== 'object' && typeof value !== 'function') || value === null) return undefined
  try {
    return (value as Record<string, unknown>)[key]
  } catch {
    return undefined
  }
}

const isProxy = (value: unknown): boolean => types.isProxy(value)

function isError (value: unknown): boolean {
  try {
    return value instanceof Error
  } catch {
    return false
  }
}

const ERROR_KEYS = ['name', 'message', 'code', 'stack', 'cause'] as const

function isWellBehavedError (value: unknown): value is Error {
  if (!isError(value) || isProxy(value)) return false
  const target = value as object
  for (const key of ERROR_KEYS) {
    const descriptor = findDescriptor(target, key)
    if (descriptor === null) return false
    if (descriptor === undefined) {
      if (key === 'name' || key === 'message') return false
      continue
    }
    if ('get' in descriptor || 'set' in descriptor) return false
    const v: unknown = descriptor.value
    if ((key === 'name' || key === 'message') && typeof v !== 'string') return false
    if (key === 'code' && v !== undefined && typeof v !== 'string' && typeof v !== 'number') return false
  }
  return true
}

/** The property's descriptor along the prototype chain; `null` when a Proxy sits in the chain. */
function findDescriptor (target: object, key: string): PropertyDescriptor | undefined | null {
  let current: object | null = target
  for (let depth = 0; current !== null && depth < 32; depth++) {
    if (isProxy(current)) return null
    const descriptor = Object.getOwnPropertyDescriptor(current, key)
    if (descriptor !== undefined) return descriptor
    current = Object.getPrototypeOf(current) as object | null
  }
  return current === null ? undefined : null
}

/** Describes any value as a string without letting it throw. */
export function safeString (value: unknown, prefix = ''): string {
  switch (typeof value) {
    case 'string': return value
    case 'number': case 'boolean': case 'bigint': case 'undefined': return `${prefix}${String(value)}`
    case 'symbol': return `${prefix}${safe(() => value.toString(), 'a symbol')}`
    case 'function': return `${prefix}a function`
  }
  if (value === null) return `${prefix}null`
  const message = safeRead(value, 'message')
  if (typeof message === 'string') return message
  const text = safe(() => String(value), '')
  if (typeof text === 'string' && text !== '' && !text.startsWith('[object ')) return `${prefix}${text}`
  return `${prefix}${isProxy(value) ? 'a proxy' : Array.isArray(value) ? 'an array' : 'an object'}`
}

function safe<T> (fn: () => T, fallback: T): T {
  try {
    return fn()
  } catch {
    return fallback
  }
}

function bound (message: string): string {
  return message.length > MAX_ERROR_MESSAGE ? `${message.slice(0, MAX_ERROR_MESSAGE)}…` : message
}

/** Raised to `onError` when a handler did not settle within `handlerTimeoutMs`. */
export class DeliveryTimeoutError extends Error {
  readonly code = 'FST_READINESS_DELIVERY_TIMEOUT'
  readonly ctx: DeliveryContext
  constructor (ctx: DeliveryContext, timeoutMs: number) {
    super(`withDelivery: the handler for ${ctx.session} #${ctx.seq} did not settle within ${timeoutMs} ms; its claim is released and its socket closed 1011 (a re-send may run it again)`)
    this.name = 'DeliveryTimeoutError'
    this.ctx = ctx
  }
}

/** Raised to `onError` (ctx null) for a text frame that starts like a numbered message but is not a valid one. */
export class DeliveryFrameError extends Error {
  readonly code = 'FST_READINESS_DELIVERY_FRAME'
  constructor (detail: string) {
    super(`withDelivery: malformed numbered frame (${detail}); socket closed 1008`)
    this.name = 'DeliveryFrameError'
  }
}

/** Raised to `onError` (ctx null) when `exclusive` refused a second live incarnation of a session (closed 4409). */
export class DeliverySessionInUseError extends Error {
  readonly code = 'FST_READINESS_DELIVERY_SESSION_IN_USE'
  readonly session: string
  constructor (session: string) {
    super(`withDelivery: session ${session} is live in another client (tab, page or process); this socket was closed 4409`)
    this.name = 'DeliverySessionInUseError'
    this.session = session
  }
}
