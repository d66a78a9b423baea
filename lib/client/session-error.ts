/** The client's `error` event when the server's `withDelivery({ exclusive: true })` refused this incarnation (close 4409). */
export class DeliverySessionInUseError extends Error {
  readonly code = 'FST_READINESS_DELIVERY_SESSION_IN_USE'
  readonly sessionId: string
  constructor (sessionId: string, reason: string) {
    super(`fastify-readiness/client: delivery session ${sessionId} is live in another client (${reason}); nothing was acked, retrying`)
    this.name = 'DeliverySessionInUseError'
    this.sessionId = sessionId
  }
}
