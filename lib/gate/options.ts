import { ReadinessOptionError } from '../common/errors.js'
import { option, readOptionTable, type ParsedOptions } from '../common/option-spec.js'
import { booleanOption, describe, durationOption, enumOption, integerOption, isPlainObject, stringListOption } from '../common/options.js'
import type { GateMode } from '../core/websocket-view.js'
import { DEFAULT_MAX_HOLD_MS } from '../core/policy.js'
import { RELEASE_BATCH, type RouteGateOptions } from './route-gate.js'

export interface WebSocketGateOptions {
  /**
   * What an upgrade that arrives before its route is ready gets:
   * `hold` (default) parks it until ready, within `holdTimeoutMs`; `reject` answers 503 + Retry-After
   * at once; `accept-then-close` accepts and closes with 1013 (a browser can read it, but clients that
   * flush their queue into the socket and do not re-send on `not admitted` lose those messages).
   */
  mode?: GateMode
  /**
   * Longest an upgrade is held, in ms. Default: derived per upgrade, as long as the app can still become
   * ready: what is left of the startup budget, or the failing probes' own schedule (42.1 s with default
   * probe options) where that reaches further or no startup runs; between 0.5 s and `maxHoldTimeoutMs`.
   */
  holdTimeoutMs?: number
  /**
   * Cap of the derived hold, in ms (default 60000): the longest a socket is held unless `holdTimeoutMs`
   * says otherwise. Lower it when your clients give up on a handshake sooner (ws: `handshakeTimeout`,
   * unset by default; browsers wait tens of seconds), raise it for a startup budget past 60 s.
   */
  maxHoldTimeoutMs?: number
  /** Most upgrades held at once across all routes (default 1000); beyond it, 503 at once. */
  maxHeld?: number
  /** Most requests one client connection may have held at once (default 4): pipelining cannot take every slot. */
  maxHeldPerConnection?: number
  /**
   * Held upgrades let through per event-loop turn when a route turns ready (default 64). Each runs a
   * handshake and the app's handler; releasing thousands in one turn would stall the loop (bench).
   */
  releaseBatch?: number
  /** accept-then-close: how long a refused socket gets to answer its 1013 before it is cut, in ms (default 1000). */
  refusedCloseTimeoutMs?: number
  /** On shutdown: how long each socket gets, after its close frame, to finish the closing handshake, in ms (default 5000). */
  drainTimeoutMs?: number
  /**
   * On shutdown: the window over which close frames are spread, in ms (default 1000), so the clients of a
   * draining instance do not all reconnect to the others in one tick. The window used is at most 2 ms per socket.
   */
  drainSpreadMs?: number
  /** Close code sent to open sockets on shutdown: 1012 Service Restart (default) or 1001 Going Away. */
  closeCode?: 1001 | 1012
  closeReason?: string
}

export const GATE_MODES: readonly GateMode[] = ['hold', 'reject', 'accept-then-close']

/** The gate's options: the allow-list, the defaults (in the parsers) and the docs check come from this table. */
export const GATE_OPTIONS = {
  mode: option('what an upgrade before ready gets: hold, reject or accept-then-close', (path, v) => enumOption<GateMode>(path, v, GATE_MODES, 'hold')),
  holdTimeoutMs: option('longest hold; default derived from the startup budget', (path, v) => v === undefined ? undefined : durationOption(path, v, 0)),
  maxHoldTimeoutMs: option('cap of the derived hold, in ms (default 60000)', (path, v) => durationOption(path, v, DEFAULT_MAX_HOLD_MS)),
  // Each held upgrade is a socket (a file descriptor): a million is past any process's limit.
  maxHeld: option('most upgrades held at once', (path, v) => integerOption(path, v, 1000, 1, 1_000_000)),
  maxHeldPerConnection: option('most holds per client connection', (path, v) => integerOption(path, v, 4, 1, 1000)),
  releaseBatch: option('held upgrades released per event-loop turn', (path, v) => integerOption(path, v, RELEASE_BATCH, 1, 1_000_000)),
  refusedCloseTimeoutMs: option('accept-then-close: how long a refused socket gets to answer its 1013', (path, v) => durationOption(path, v, 1000)),
  drainTimeoutMs: option('on shutdown, how long each socket gets to finish the closing handshake', (path, v) => durationOption(path, v, 5000)),
  drainSpreadMs: option('on shutdown, the window the close frames are spread over', (path, v) => durationOption(path, v, 1000, { allowZero: true })),
  closeCode: option('close code on shutdown: 1012 or 1001', parseCloseCode),
  closeReason: option('close reason on shutdown', parseCloseReason)
}

export type GateSettings = ParsedOptions<typeof GATE_OPTIONS>

/** Renamed in 0.3.0 (one unit convention: `...Ms`); the old key is refused naming the new one. */
export const GATE_RENAMED: Record<string, string> = {
  holdTimeout: 'holdTimeoutMs',
  maxHoldTimeout: 'maxHoldTimeoutMs',
  refusedCloseTimeout: 'refusedCloseTimeoutMs',
  drainTimeout: 'drainTimeoutMs',
  drainSpread: 'drainSpreadMs'
}

export function readGateOptions (opts: Record<string, unknown>): GateSettings {
  if (isPlainObject(opts) && 'drainDelay' in opts) {
    // Not a rename: the serving delay moved to the shutdown sequence, which keeps every route serving.
    throw new ReadinessOptionError('websocket.drainDelay', 'was replaced by shutdown.delayMs: the serving delay belongs to the shutdown sequence, which keeps every route (not only WebSockets) serving while readiness reports 503')
  }
  return readOptionTable('websocket', opts, GATE_OPTIONS, { renamed: GATE_RENAMED })
}

const ROUTE_OPTIONS = {
  requires: option('phases and probes the route needs', (path, v) => v === undefined ? undefined : stringListOption(path, v)),
  mode: option('overrides the gate\'s mode', (path, v) => v === undefined ? undefined : enumOption<GateMode>(path, v, GATE_MODES, 'hold')),
  holdTimeoutMs: option('overrides the gate\'s hold timeout', (path, v) => v === undefined ? undefined : durationOption(path, v, 0)),
  closeOnLoss: option('close open sockets with 1013 when a requirement is lost', (path, v) => booleanOption(path, v, false)),
  gate: option('gate a plain HTTP route too', (path, v) => booleanOption(path, v, false))
}

export interface ParsedRoute extends RouteGateOptions {
  /** Gate a plain HTTP route too. */
  gate: boolean
}

/** A route's `readiness` option (not `false`), with the gate's defaults filled in. */
export function parseRouteOptions (path: string, value: unknown, defaults: Pick<GateSettings, 'mode' | 'holdTimeoutMs'>): ParsedRoute {
  if (value === undefined) return { requires: undefined, mode: defaults.mode, holdTimeoutMs: defaults.holdTimeoutMs, closeOnLoss: false, gate: false }
  if (!isPlainObject(value)) throw new ReadinessOptionError(path, `must be an object or false, got ${describe(value)}`)
  const own = readOptionTable(path, value, ROUTE_OPTIONS, { plugin: false, renamed: { holdTimeout: 'holdTimeoutMs' } })
  return {
    requires: own.requires,
    mode: own.mode ?? defaults.mode,
    holdTimeoutMs: own.holdTimeoutMs ?? defaults.holdTimeoutMs,
    closeOnLoss: own.closeOnLoss,
    gate: own.gate
  }
}

function parseCloseCode (path: string, value: unknown): 1001 | 1012 {
  if (value === undefined) return 1012
  if (value === 1001 || value === 1012) return value
  throw new ReadinessOptionError(path, `must be 1012 (Service Restart) or 1001 (Going Away), got ${describe(value)}`)
}

function parseCloseReason (path: string, value: unknown): string {
  if (value === undefined) return 'server restarting'
  // RFC 6455: the reason is UTF-8 and must fit in a control frame with the code (125 bytes); a lone
  // surrogate would be sent as U+FFFD, so the client would read another reason than the one configured.
  // Control characters (NUL, newlines) would land verbatim in clients' logs and UIs.
  // eslint-disable-next-line no-control-regex
  if (typeof value !== 'string' || Buffer.from(value).toString() !== value || Buffer.byteLength(value) > 123 || /[\u0000-\u001f\u007f]/.test(value)) {
    throw new ReadinessOptionError(path, `must be a well-formed string of at most 123 UTF-8 bytes without control characters, got ${describe(value)}`)
  }
  return value
}
