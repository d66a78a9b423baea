import { ackFrame, HELLO_PREFIX, MESSAGE_PREFIX, newSessionId, parseHelloFrame, parseMessageFrame, parseSeqFrame, PING_PREFIX, PONG_PREFIX, RECEIVED_PREFIX, SESSION_IN_USE_CODE, SESSION_IN_USE_REASON, STORE_DOWN_REASON } from '../client/frames.js'
import { beforeDrainClose } from '../common/before-close.js'
import { ReadinessOptionError } from '../common/errors.js'
import { DeliveryFrameError, DeliverySessionInUseError, DeliveryTimeoutError } from './errors.js'
import { readDeliveryOptions } from './options.js'
import { letGo, progressOf, wake, type Held } from './progress.js'
import { takeSession, type SessionLease } from './session.js'
import { Replies } from './replies.js'
import type { ClaimResult, DedupeStore } from './store.js'
import type { DeliveryContext, DeliveryHandler, DeliveryOptions, DeliverySession, DeliverySocket } from './types.js'

export { memoryDedupe, redisDedupe, type ClaimResult, type DedupeStore, type MemoryDedupeOptions, type RedisDedupeOptions, type RedisLike } from './store.js'
export { DeliveryTimeoutError, DeliveryFrameError, DeliverySessionInUseError } from './errors.js'
export { deliveryIdle } from './options.js'
export type { DeliveryContext, DeliveryHandler, DeliveryOptions, DeliverySession, DeliverySocket, DeliveryStats } from './types.js'
export { memoryOutbox, redisOutbox, type DeliveryOutbox, type OutboxBounds, type RedisOutboxOptions, type Resume } from './outbox.js'

/**
 * The server half of opt-in delivery, for a WebSocket handler: numbered
 * messages from `ReadinessClient({ delivery: true })` are handed to the app
 * one at a time, in order, each acknowledged after the app's handler has
 * finished with it, and each dropped (and acknowledged again) when the
 * session's window says it was already handled here or, with a shared store,
 * on another instance. Frames without a number pass through untouched (text
 * as a string, binary as a Buffer, `ctx` null); a text frame that claims a
 * number but is malformed closes the socket 1008 (nothing handled).
 *
 * Order of work per message: claim, handler, then the store write, then the
 * ack. The claim says "in progress": in the process (every socket of a
 * session, whatever the store) and, with a store that has `claim` (Redis),
 * across instances. A re-sent message whose handler is still running on an
 * old socket (closeOnLoss, a broken connection) waits for that handler's
 * outcome and is then acknowledged, instead of running twice. A crash before
 * the store write means no ack, so the client re-sends: a re-send, never a
 * loss (a dead instance's Redis claim expires after `claimTtlMs`). A
 * synchronous handler is followed by the store write in the same tick; an
 * async effect should be idempotent on `ctx` (session, seq) if a crash
 * between it and the store write must not repeat it. When the window cannot
 * be read (the store is down), nothing is handled: the socket closes 1013 and
 * the client re-sends later. A handler that has not settled after
 * `handlerTimeoutMs` is given up on: reported, its claim released (a re-send
 * may then run the message again, here or elsewhere: at-least-once), and its
 * socket closed 1011 so the client re-sends what was not acknowledged.
 */

const OPEN = 1
const INTERNAL_ERROR = 1011
const POLICY_VIOLATION = 1008
/** Identifies this process's sockets as claim owners in a shared store. */
const PROCESS = newSessionId().slice(0, 12)
let sockets = 0

export function withDelivery (socket: DeliverySocket, handler: DeliveryHandler, options: DeliveryOptions = {}): DeliverySession {
  if (typeof handler !== 'function') throw new ReadinessOptionError('withDelivery.handler', 'must be a function')
  const { store, onError, scope, maxQueued, handlerTimeoutMs, exclusive, outbox } = readDeliveryOptions(options)
  const release = typeof store.release === 'function' ? store.release.bind(store) : null
  const claim = typeof store.claim === 'function' ? store.claim.bind(store) : null
  const claimTtlMs = claim !== null && typeof store.claimTtlMs === 'number' && store.claimTtlMs > 0 ? store.claimTtlMs : 0
  const progress = progressOf(store)
  const owner = `${PROCESS}.${++sockets}`
  const replies = new Replies(socket, outbox, (err) => onError(err, null))
  const stats: DeliverySession = { handled: 0, duplicates: 0, passthrough: 0, waited: 0, send: (data) => replies.send(data) }
  const queue: Array<string | Buffer> = []
  let busy = false
  let closed = false
  /** Wakes this socket's pump from a wait on another socket's hold, when this socket closes first. */
  let stopWaiting: (() => void) | null = null
  /** The client object sending on this socket (its hello frame); null for a client that sent none. */
  let hello: { session: string, incarnation: string } | null = null
  let lease: SessionLease | null = null
  /** The drain is about to close this socket: no new frame is taken (nor acked), the running handler finishes. */
  let draining = false
  let pumping: Promise<void> = Promise.resolve()

  const unhook = beforeDrainClose(socket, () => {
    draining = true
    queue.length = 0
    stopWaiting?.()
    // The running handler first (its replies too), then everything sent so far is numbered and on the wire.
    return pumping.then(() => replies.idle())
  })
  socket.on('close', () => { closed = true; queue.length = 0; stopWaiting?.(); lease?.release(); replies.closed(); unhook() })
  socket.on('message', (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
    if (closed) return
    if (!isBinary && control(data)) return
    // Not taken, not acked: the client re-sends it to the next process.
    if (draining) return
    if (queue.length >= maxQueued) {
      // Backpressure a flooding client can feel: nothing queued is acked, so a delivery client re-sends it later.
      shut('delivery queue full; retry in 1s')
      return
    }
    if (isBinary) {
      queue.push(Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data))
    } else {
      queue.push(Array.isArray(data) ? Buffer.concat(data).toString() : data.toString())
    }
    if (!busy) pumping = pump()
  })

  /**
   * The client's control frames, taken at once whatever the queue holds: the live-peer check (answered) and
   * its acks of server messages. True when `data` was one.
   */
  function control (data: Buffer | ArrayBuffer | Buffer[]): boolean {
    const first = Array.isArray(data) ? data[0] : data
    if (first === undefined || (first as Buffer)[0] !== 0x1e || ((first as Buffer)[1] !== 0x70 && (first as Buffer)[1] !== 0x6b)) return false
    const text = Array.isArray(data) ? Buffer.concat(data).toString() : data.toString()
    if (text.length > PING_PREFIX.length + 16) return false
    if (text.startsWith(PING_PREFIX)) {
      if (socket.readyState === OPEN) socket.send(PONG_PREFIX + text.slice(PING_PREFIX.length))
      // Another instance's late replies in a shared outbox, while this socket sends nothing: sent now.
      replies.pinged()
      return true
    }
    const seq = parseSeqFrame(RECEIVED_PREFIX, text)
    if (seq === null) return false
    replies.acked(seq)
    return true
  }

  function shut (reason: string, code = 1013): void {
    closed = true
    queue.length = 0
    socket.close?.(code, reason)
  }

  /** Waits until `other` lets go or this socket closes, whichever comes first; leaves nothing behind in `other`. */
  function waitFor (other: Held): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => { other.waiters.delete(done); stopWaiting = null; resolve() }
      other.waiters.add(done)
      stopWaiting = done
    })
  }

  /** 'done' once `result` settled, 'timeout' after handlerTimeoutMs (then `result` is no longer awaited). */
  function settled (result: Promise<void>): Promise<'done' | 'timeout'> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve('timeout'), handlerTimeoutMs)
      ;(timer as { unref?: () => void }).unref?.()
      void result.then(() => { clearTimeout(timer); resolve('done') })
    })
  }

  function ack (session: string, seq: number): void {
    if (socket.readyState === OPEN) socket.send(ackFrame(session, seq))
  }

  /** Holds `key` in the process; a previous hold of this socket's (its store write still pending) is superseded. */
  function hold (key: string): Held {
    const previous = progress.held.get(key)
    const mine: Held = { owner, waiters: new Set() }
    progress.held.set(key, mine)
    if (previous !== undefined) wake(previous)
    return mine
  }

  /**
   * The window's verdict on (key, seq), this socket holding the key in the process: `claimed` (run it),
   * `handled` (ack it), null (the socket closed while waiting) or `failed` (the store could not answer;
   * reported). Synchronous for a synchronous store without `claim` (the memory window).
   */
  type Verdict = Exclude<ClaimResult, 'busy'> | 'failed' | null
  function decide (key: string, seq: number, ctx: DeliveryContext): Verdict | Promise<Verdict> {
    if (claim !== null) return claimShared(key, seq, ctx)
    let loaded: number | Promise<number>
    try { loaded = store.load(key) } catch (err) { onError(err, ctx); return 'failed' }
    if (typeof loaded === 'number') return seq <= loaded ? 'handled' : 'claimed'
    return loaded.then((mark) => seq <= mark ? 'handled' : 'claimed', (err: unknown) => { onError(err, ctx); return 'failed' as const })
  }

  /** Asks the shared store until the message is ours or handled; while another instance's handler is on it, polls. */
  async function claimShared (key: string, seq: number, ctx: DeliveryContext): Promise<Verdict> {
    let pause = 20
    let waited = false
    for (;;) {
      let result: ClaimResult
      try {
        result = await (claim as NonNullable<DedupeStore['claim']>)(key, seq, owner)
      } catch (err) {
        onError(err, ctx)
        return 'failed'
      }
      if (result !== 'busy') return result
      if (!waited) { waited = true; stats.waited++ }
      if (closed || draining) return null
      await new Promise((resolve) => setTimeout(resolve, pause))
      pause = Math.min(pause * 2, 250, Math.max(20, Math.floor(claimTtlMs / 4)))
      if (closed || draining) return null
    }
  }

  /** Runs the queue; stays synchronous while the store and handler are, so a message costs no extra tick. */
  async function pump (): Promise<void> {
    busy = true
    try {
      // eslint-disable-next-line no-unmodified-loop-condition -- set by the drain hook while a handler is awaited
      while (queue.length > 0 && !closed && !draining) {
        const item = queue.shift() as string | Buffer
        if (typeof item === 'string' && item.startsWith(HELLO_PREFIX)) {
          if (!await greet(item)) return
          continue
        }
        const message = typeof item === 'string' ? parseMessageFrame(item) : null
        if (message === null) {
          if (typeof item === 'string' && item.startsWith(MESSAGE_PREFIX)) {
            // Claims a number but is not a valid numbered frame (a seq of -1, NaN, 01 or past 2^53 - 1, a bad
            // session id): no client of ours sends it, so nothing of it is handled or acked (RFC 6455 1008).
            onError(new DeliveryFrameError(JSON.stringify(item.slice(0, 80))), null)
            shut('malformed delivery frame', POLICY_VIOLATION)
            return
          }
          // Untouched: text as a string, binary as the Buffer it arrived as.
          stats.passthrough++
          await run(item, null)
          continue
        }
        // Per incarnation: a reload or a second tab numbers from 1 again, and must not meet the other's mark.
        const incarnation = hello !== null && hello.session === message.session ? hello.incarnation : ''
        const key = incarnation === '' ? scope + message.session : `${scope}${message.session}~${incarnation}`
        const ctx = { session: message.session, seq: message.seq, incarnation }
        // In progress on another socket of this process (a re-send after closeOnLoss): wait for that handler's outcome.
        let other = progress.held.get(key)
        if (other !== undefined && other.owner !== owner) {
          stats.waited++
          while (other !== undefined && other.owner !== owner) {
            await waitFor(other)
            if (closed || draining) return // this socket closed (or drains) while waiting: stop, keep nothing
            other = progress.held.get(key)
          }
        }
        const mine = hold(key)
        let verdict = decide(key, message.seq, ctx)
        if (verdict !== null && typeof verdict === 'object') verdict = await verdict
        if (verdict === null || verdict === 'failed') {
          letGo(progress, key, mine)
          // Without the window a re-send would run again: handle nothing, let the client come back and re-send.
          if (verdict === 'failed' && !closed) shut(STORE_DOWN_REASON)
          return
        }
        if (verdict === 'handled') {
          letGo(progress, key, mine)
          stats.duplicates++
          ack(ctx.session, ctx.seq)
          continue
        }
        // Ours: the handler runs even if the socket closed meanwhile; its outcome is recorded, the re-send acked.
        const renew = claimTtlMs > 0 ? setInterval(() => { renewClaim(key, ctx) }, Math.max(10, Math.floor(claimTtlMs / 3))) : null
        ;(renew as { unref?: () => void } | null)?.unref?.()
        const result = run(message.payload, ctx)
        const outcome = result === undefined ? 'done' : await settled(result)
        // Its replies in the outbox before its window write and ack (an async outbox; a refused send is asked
        // again): a re-send elsewhere meanwhile waits on the claim instead of numbering its own replies first.
        // Within handlerTimeoutMs: an outbox that never answers delays the ack, it does not stop the socket.
        const numbering = outcome === 'done' ? replies.numbering() : undefined
        if (numbering !== undefined) await settled(numbering)
        if (renew !== null) clearInterval(renew)
        if (outcome === 'timeout') {
          // Given up on: the claim goes now (in the process and in the shared store), the client re-sends.
          letGo(progress, key, mine)
          if (release !== null) {
            Promise.resolve().then(() => release(key, owner)).catch((err: unknown) => onError(err, ctx))
          }
          onError(new DeliveryTimeoutError(ctx, handlerTimeoutMs), ctx)
          if (!closed) shut('delivery handler timeout', INTERNAL_ERROR)
          return
        }
        stats.handled++
        // Issued right after the handler (same tick when it is synchronous): the window between them is as small as it gets.
        let saved: void | Promise<unknown> | null = null
        try { saved = store.save(key, ctx.seq, owner) } catch (err) { onError(err, ctx) }
        if (saved !== null && saved !== undefined && typeof saved.then === 'function') {
          // Other sockets here (and idle()) wait until the write landed, so their read cannot miss it.
          saved.then(() => letGo(progress, key, mine), (err: unknown) => { letGo(progress, key, mine); onError(err, ctx) })
        } else {
          letGo(progress, key, mine)
        }
        ack(ctx.session, ctx.seq)
      }
    } finally {
      busy = false
    }
  }

  /**
   * The hello frame: which incarnation sends on this socket; with `exclusive`, the session's live lease, or
   * a close 4409 when another incarnation holds it. False when the socket was closed.
   */
  async function greet (text: string): Promise<boolean> {
    const parsed = parseHelloFrame(text)
    if (parsed === null || (hello !== null && (hello.session !== parsed.session || hello.incarnation !== parsed.incarnation))) {
      onError(new DeliveryFrameError(JSON.stringify(text.slice(0, 80))), null)
      shut('malformed delivery frame', POLICY_VIOLATION)
      return false
    }
    if (hello !== null) return true
    hello = parsed
    const key = `${scope}${parsed.session}~${parsed.incarnation}`
    if (!exclusive) { replies.greet(key, parsed.received); return true }
    let taken: SessionLease | null
    try {
      taken = await takeSession(store, scope + parsed.session, parsed.incarnation, (err) => onError(err, null))
    } catch (err) {
      onError(err, null)
      if (!closed) shut(STORE_DOWN_REASON)
      return false
    }
    if (closed) { taken?.release(); return false }
    if (taken === null) {
      onError(new DeliverySessionInUseError(parsed.session), null)
      shut(SESSION_IN_USE_REASON, SESSION_IN_USE_CODE)
      return false
    }
    lease = taken
    replies.greet(key, parsed.received)
    return true
  }

  function renewClaim (key: string, ctx: DeliveryContext): void {
    Promise.resolve()
      .then(() => (claim as NonNullable<DedupeStore['claim']>)(key, ctx.seq, owner))
      .then((result) => {
        if (result !== 'claimed') onError(new Error(`withDelivery: the claim on ${ctx.session} #${ctx.seq} was lost while its handler ran (${result}); a re-send may run it again`), ctx)
      }, (err: unknown) => onError(err, ctx))
  }

  function run (data: string | Buffer, ctx: DeliveryContext | null): Promise<void> | undefined {
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
