type Session = { close: () => void, once: (event: 'close', listener: () => void) => unknown, closed?: boolean, destroyed?: boolean }
type SessionServer = { on: (event: 'session', listener: (session: Session) => void) => unknown, removeListener: (event: 'session', listener: (session: Session) => void) => unknown }

/**
 * The HTTP/2 sessions of the app's server, one entry per session (never per request). On Node 20 and 22
 * `server.close()` leaves open sessions alone, so an idle client held Fastify's close (and the exit) until
 * the shutdown timeout; `goAway()` closes each gracefully: GOAWAY first, so the client opens no new stream
 * here, then the close once the streams under way have finished. An HTTP/1 server emits no `session`.
 */
export class Http2Sessions {
  readonly #open = new Set<Session>()
  readonly #server: SessionServer
  readonly #onSession = (session: Session): void => {
    this.#open.add(session)
    session.once('close', () => this.#open.delete(session))
  }

  constructor (server: SessionServer) {
    this.#server = server
    server.on('session', this.#onSession)
  }

  get size (): number { return this.#open.size }

  goAway (): void {
    for (const session of this.#open) if (session.closed !== true && session.destroyed !== true) session.close()
  }

  stop (): void {
    this.#server.removeListener('session', this.#onSession)
  }
}
