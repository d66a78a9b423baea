import type { ReadinessApi } from '../core/readiness.js'
import type { GateMode, RouteReadiness } from '../core/websocket-view.js'

export type { ConnectionReadiness, GateMode, RouteReadiness, WebSocketReadiness } from '../core/websocket-view.js'

/** The part of the readiness state the gate reads. */
export type ReadinessView = Pick<ReadinessApi, 'meets' | 'missing' | 'isReady' | 'draining' | 'closing' | 'onChange'>

export type HoldOutcome = 'ready' | 'timeout' | 'full' | 'draining' | 'gone'

export interface RouteGateOptions {
  /** Phases and probes the route needs; undefined means full readiness. */
  requires: string[] | undefined
  mode: GateMode
  /** Undefined: derived per upgrade from the remaining startup budget. */
  holdTimeoutMs: number | undefined
  /** Close the route's open sockets (1013) when a requirement is lost after ready. */
  closeOnLoss: boolean
}

interface Held {
  settle: (outcome: HoldOutcome) => void
}

/**
 * Upgrades released in one macrotask when a route turns ready: each completes
 * a handshake and runs the app's handler synchronously, so releasing thousands
 * at once would stall the event loop (bench: 5,000 held). Between batches the
 * loop gets to serve everything else.
 */
export const RELEASE_BATCH = 64

/** Something that can be closed with a code: a ws socket, seen from here. */
export interface Closable {
  close: (code?: number, reason?: string) => void
}

/**
 * The gate's view of one route: whether its requirements hold (cached, so the
 * per-request check is a property read), the upgrades parked on it, and its
 * open sockets. Knows nothing of HTTP: the plugin maps outcomes to responses.
 */
export class RouteGate<S extends Closable = Closable> {
  readonly key: string
  readonly options: RouteGateOptions
  met = false
  readonly held = new Set<Held>()
  readonly open = new Set<S>()
  accepted = 0
  refused = 0
  heldTotal = 0
  holdTimeouts = 0
  closedOnLoss = 0

  constructor (key: string, options: RouteGateOptions) {
    this.key = key
    this.options = options
  }
}

function settled (outcome: HoldOutcome): { outcome: Promise<HoldOutcome>, cancel: () => void, pending: false } {
  return { outcome: Promise.resolve(outcome), cancel: () => {}, pending: false }
}

/**
 * All gated routes of an app, kept in step with the readiness state: on every
 * change each route's `met` is recomputed once and, where it turned true, every
 * held upgrade is released in the same tick (no polling between "ready" and
 * the handshake).
 */
export class GateRegistry<S extends Closable = Closable> {
  readonly routes = new Map<string, RouteGate<S>>()
  readonly #readiness: ReadinessView
  readonly #maxHeld: number
  readonly #maxPerConnection: number
  readonly #releaseBatch: number
  /** Holds per client connection: one pipelining connection must not take every slot. */
  readonly #perConnection = new WeakMap<object, number>()
  #heldCount = 0
  /** Every route's `met`, kept with them so the health routes read it in O(1). */
  #allMet = true
  #unsubscribe: (() => void) | null = null
  #onLoss: (route: RouteGate<S>) => void

  constructor (readiness: ReadinessView, maxHeld: number, onLoss: (route: RouteGate<S>) => void, maxPerConnection = Infinity, releaseBatch = RELEASE_BATCH) {
    this.#releaseBatch = releaseBatch
    this.#readiness = readiness
    this.#maxHeld = maxHeld
    this.#maxPerConnection = maxPerConnection
    this.#onLoss = onLoss
  }

  get heldCount (): number { return this.#heldCount }

  add (key: string, options: RouteGateOptions): RouteGate<S> {
    let unique = key
    for (let i = 2; this.routes.has(unique); i++) unique = `${key}#${i}`
    const route = new RouteGate<S>(unique, options)
    route.met = this.#readiness.meets(options.requires)
    this.routes.set(unique, route)
    this.#allMet &&= route.met
    return route
  }

  /** Starts following the readiness state (idempotent). */
  start (): void {
    if (this.#unsubscribe !== null) return
    this.#unsubscribe = this.#readiness.onChange(() => this.refresh())
    this.refresh()
  }

  stop (): void {
    this.#unsubscribe?.()
    this.#unsubscribe = null
  }

  refresh (): void {
    const closing = this.#readiness.closing
    let allMet = true
    for (const route of this.routes.values()) {
      const was = route.met
      route.met = this.#readiness.meets(route.options.requires)
      allMet &&= route.met
      if (route.met) {
        this.#releaseAll(route, 'ready')
      } else if (closing) {
        this.#releaseAll(route, 'draining')
      } else if (was && route.options.closeOnLoss && route.open.size > 0) {
        this.#onLoss(route)
      }
    }
    this.#allMet = allMet
  }

  /**
   * Parks a request until the route's requirements hold. Resolves with why it
   * ended; `cancel()` (the client went away) resolves it with 'gone' and frees
   * its timer and slot at once. `connection` identifies the client connection
   * (the TCP socket) for the per-connection limit. `pending` is false when the
   * outcome was decided at once: there is nothing to cancel, nothing to watch.
   */
  hold (route: RouteGate<S>, timeout: number, connection?: object): { outcome: Promise<HoldOutcome>, cancel: () => void, pending: boolean } {
    if (route.met) return settled('ready')
    if (this.#readiness.closing) return settled('draining')
    if (this.#heldCount >= this.#maxHeld) return settled('full')
    const ownHolds = connection === undefined ? 0 : this.#perConnection.get(connection) ?? 0
    if (ownHolds >= this.#maxPerConnection) return settled('full')
    if (connection !== undefined) this.#perConnection.set(connection, ownHolds + 1)
    let settle!: (outcome: HoldOutcome) => void
    const outcome = new Promise<HoldOutcome>((resolve) => {
      const timer = setTimeout(() => entry.settle('timeout'), timeout)
      const entry: Held = {
        settle: (result) => {
          if (!route.held.delete(entry)) return
          this.#heldCount--
          if (connection !== undefined) this.#perConnection.set(connection, (this.#perConnection.get(connection) ?? 1) - 1)
          clearTimeout(timer)
          if (result === 'timeout') route.holdTimeouts++
          resolve(result)
        }
      }
      settle = entry.settle
      route.held.add(entry)
    })
    this.#heldCount++
    route.heldTotal++
    return { outcome, cancel: () => settle('gone'), pending: true }
  }

  /** Whether every gated route would accept an upgrade now (full readiness when none is gated). */
  allReady (): boolean {
    if (this.routes.size === 0) return this.#readiness.isReady()
    return this.#allMet && !this.#readiness.draining
  }

  snapshot (route: RouteGate<S>): RouteReadiness {
    return {
      ready: route.met,
      mode: route.options.mode,
      requires: route.options.requires ?? 'all',
      missing: route.met ? [] : this.#readiness.missing(route.options.requires),
      held: route.held.size,
      open: route.open.size,
      accepted: route.accepted,
      refused: route.refused,
      heldTotal: route.heldTotal,
      holdTimeouts: route.holdTimeouts,
      closedOnLoss: route.closedOnLoss
    }
  }

  #releaseAll (route: RouteGate<S>, outcome: HoldOutcome): void {
    if (route.held.size === 0) return
    if (outcome !== 'ready') {
      for (const entry of [...route.held]) entry.settle(outcome)
      return
    }
    // Released in batches, oldest first; a hold that ends meanwhile (timeout,
    // client gone, readiness lost again) is simply no longer in the set.
    const queue = [...route.held]
    const releaseBatch = (): void => {
      if (!route.met) return
      for (const entry of queue.splice(0, this.#releaseBatch)) entry.settle('ready')
      if (queue.length > 0) setImmediate(releaseBatch)
    }
    releaseBatch()
  }
}
