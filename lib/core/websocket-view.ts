/**
 * The WebSocket layer's readiness as the core and `app.readiness.websocket` show it. The gate
 * implements it; the core only holds it, so these types live here and the gate imports them.
 */

export type GateMode = 'reject' | 'hold' | 'accept-then-close'

export interface RouteReadiness {
  ready: boolean
  mode: GateMode
  requires: string[] | 'all'
  missing: string[]
  held: number
  open: number
  accepted: number
  refused: number
  heldTotal: number
  holdTimeouts: number
  closedOnLoss: number
}

/** What the gate exposes as `app.readiness.websocket`: the WebSocket layer's own readiness. */
export interface WebSocketReadiness {
  /** Would an upgrade on this route (by its URL) be accepted now? With no route: on every gated route. */
  isReadyForConnections: (route?: string) => boolean
  getConnectionReadiness: () => ConnectionReadiness
  /** The most the gate's drain can take on shutdown, in ms (closes spread over a window + the close handshake bound). */
  readonly drainBudgetMs: number
}

export interface ConnectionReadiness {
  ready: boolean
  draining: boolean
  held: number
  open: number
  routes: Record<string, RouteReadiness>
}
