import { ackFrame, parseMessageFrame } from '../client/frames.js'
import { memoryDedupe, type DedupeStore } from './store.js'

export { memoryDedupe, redisDedupe, type DedupeStore, type MemoryDedupeOptions, type RedisDedupeOptions, type RedisLike } from './store.js'

/**
 * The server half of opt-in delivery, for a WebSocket handler: numbered
 * messages from `ReadinessClient({ delivery: true })` are handed to the app
 * one at a time, in order, each acknowledged after the app's handler has
 * finished with it, and each dropped (and acknowledged again) when the
 * session's window says it was already handled here or, with a shared store,
 * on another instance. Messages without a number pass through untouched.
 *
 * Order of work per message: handler, then the store write, then the ack. A
 * crash before the handler finishes means no ack, so the client re-sends: a
 * re-send, never a loss. A synchronous handler is followed by the store write
 * in the same tick; an async effect should be idempotent on `ctx` (session,
 * seq) if a crash between it and the store write must not repeat it.
 */

export interface DeliveryContext { session: string, seq: number }

/** The message's text and its number; `ctx` is null for a frame the client did not number. */
export type DeliveryHandler = (data: string, ctx: DeliveryContext | null) => void | Promise<void>

/** The part of a `ws` WebSocket the helper uses. */
export interface DeliverySocket {
  readonly readyState: number
  send: (data: string) => void
  close?: (code?: number, reason?: string) => void
  on: (event: 'message' | 'close', listener: (...args: any[]) => void) => unknown
}

export interface DeliveryOptions {
  /** The dedupe window (default: a memory window per process, shared by every socket using the default). */
  store?: DedupeStore
  /** A handler that throws still counts as handled (acked): re-delivering what the app rejected would loop. Reported here. */
  onError?: (error: unknown, ctx: DeliveryContext | null) => void
  /**
   * Prefixes every session in the window, e.g. the authenticated user's id, so a client that learns or
   * guesses another's session id cannot make the helper drop that client's messages as duplicates.
   */
  scope?: string
  /** Messages waiting behind a slow handler; beyond this the socket is closed 1013 and the client re-sends later (default 1000). */
  maxQueued?: number
}

export interface DeliveryStats { handled: number, duplicates: number, passthrough: number }

const OPEN = 1
let sharedMemory: DedupeStore | undefined

export function withDelivery (socket: DeliverySocket, handler: DeliveryHandler, options: DeliveryOptions = {}): DeliveryStats {
  if (typeof handler !== 'function') throw new TypeError('withDelivery: handler must be a function')
  const store = options.store ?? (sharedMemory ??= memoryDedupe())
  const onError = options.onError ?? (() => {})
  const scope = options.scope === undefined ? '' : `${String(options.scope)}:`
  const maxQueued = options.maxQueued ?? 1000
  if (!Number.isInteger(maxQueued) || maxQueued < 1) throw new TypeError(`withDelivery: maxQueued must be a positive integer, got ${String(options.maxQueued)}`)
  const stats: DeliveryStats = { handled: 0, duplicates: 0, passthrough: 0 }
  const queue: Array<string | Buffer> = []
  /** What this socket knows of each session's mark: loaded once, then kept in step with its own saves. */
  const marks = new Map<string, number>()
  let busy = false
  let closed = false

  socket.on('close', () => { closed = true; queue.length = 0 })
  socket.on('message', (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
    if (closed) return
    if (queue.length >= maxQueued) {
      // Backpressure a flooding client can feel: nothing queued is acked, so a delivery client re-sends it later.
      closed = true
      queue.length = 0
      socket.close?.(1013, 'delivery queue full; retry in 1s')
      return
    }
    if (isBinary) {
      queue.push(Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data))
    } else {
      queue.push(Array.isArray(data) ? Buffer.concat(data).toString() : data.toString())
    }
    if (!busy) void pump()
  })

  function ack (session: string, seq: number): void {
    if (socket.readyState === OPEN) socket.send(ackFrame(session, seq))
  }

  /** Runs the queue; stays synchronous while the store and handler are, so a message costs no extra tick. */
  async function pump (): Promise<void> {
    busy = true
    try {
      while (queue.length > 0 && !closed) {
        const item = queue.shift() as string | Buffer
        const message = typeof item === 'string' ? parseMessageFrame(item) : null
        if (message === null) {
          stats.passthrough++
          await run(typeof item === 'string' ? item : item.toString(), null)
          continue
        }
        let mark = marks.get(message.session)
        if (mark === undefined) {
          const loaded = store.load(scope + message.session)
          mark = typeof loaded === 'number' ? loaded : await loaded.catch((err: unknown) => { onError(err, message); return 0 })
          if (closed) return
          marks.set(message.session, Math.max(mark, marks.get(message.session) ?? 0))
          mark = marks.get(message.session) as number
        }
        const ctx = { session: message.session, seq: message.seq }
        if (message.seq <= mark) {
          stats.duplicates++
          ack(ctx.session, ctx.seq)
          continue
        }
        const result = run(message.payload, ctx)
        if (result !== undefined) await result
        marks.set(ctx.session, ctx.seq)
        stats.handled++
        // Issued right after the handler (same tick when it is synchronous): the window between them is as small as it gets.
        const saved = store.save(scope + ctx.session, ctx.seq)
        if (saved !== undefined) saved.catch((err: unknown) => onError(err, ctx))
        ack(ctx.session, ctx.seq)
      }
    } finally {
      busy = false
    }
  }

  function run (data: string, ctx: DeliveryContext | null): Promise<void> | undefined {
    try {
      const result = handler(data, ctx)
      if (result !== undefined && typeof (result as Promise<void>).then === 'function') {
        return (result as Promise<void>).then(() => {}, (err: unknown) => onError(err, ctx))
      }
    } catch (err) {
      onError(err, ctx)
    }
    return undefined
  }

  return stats
}
