import type { DeliveryContext } from './types.js'

// These belong in lib/common/errors.ts (the suite's one home for error classes); they move there with the lead.

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
