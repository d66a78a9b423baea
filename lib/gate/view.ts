import type { WebSocket } from 'ws'
import { ReadinessOptionError } from '../common/errors.js'
import type { ConnectionReadiness, GateRegistry, ReadinessView, WebSocketReadiness } from './route-gate.js'

/**
 * `app.readiness.websocket`: the WebSocket layer's readiness, read from the gate's registry (O(1) for
 * the whole-app answer, which the health routes ask on every request).
 */
export function connectionView (registry: GateRegistry<WebSocket>, readiness: Pick<ReadinessView, 'draining'>, drainBudgetMs: number): WebSocketReadiness {
  return {
    drainBudgetMs,
    isReadyForConnections (url?: string): boolean {
      if (url === undefined) return registry.allReady()
      const route = registry.routes.get(url)
      if (route === undefined) throw new ReadinessOptionError('isReadyForConnections', `names "${url}", which is not a gated route (gated: ${[...registry.routes.keys()].join(', ') || 'none'})`)
      return route.met && !readiness.draining
    },
    getConnectionReadiness (): ConnectionReadiness {
      const routes: ConnectionReadiness['routes'] = {}
      let open = 0
      for (const [key, route] of registry.routes) {
        routes[key] = registry.snapshot(route)
        open += route.open.size
      }
      return { ready: registry.allReady(), draining: readiness.draining, held: registry.heldCount, open, routes }
    }
  }
}
