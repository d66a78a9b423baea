import { DATA_PREFIX, GAP_PREFIX, STORE_DOWN_REASON } from '../client/frames.js'
import type { DeliveryOutbox, Resume } from './outbox.js'
import type { DeliverySocket } from './types.js'

const OPEN = 1
/** Sent before the client's hello said who it is, or while the outbox cannot number: kept this long a list, then refused (reported). */
const MAX_EARLY = 1000
/** A send the outbox refused (the store down) is asked again after 100 ms, doubling to 2 s, for up to 60 s. */
const RENUMBER_FIRST_MS = 100
const RENUMBER_MAX_MS = 2000
const RENUMBER_FOR_MS = 60_000

/** Per outbox, the socket of each session incarnation that greeted last in this process. */
const current = new WeakMap<object, Map<string, Replies>>()

/**
 * One socket's server-to-client half: `send` numbers each message in the outbox of the socket's session
 * incarnation and puts it on the wire, in order; the client's hello replays what it missed (here or, with a
 * shared outbox, from another instance), its batched acks drop what it has. A handler that keeps sending
 * after its socket closed or was replaced (a stream cut mid-way) reaches the incarnation's newer socket in
 * this process at once; on another instance (a shared outbox) its replies take numbers this socket did not
 * send, so before a number above the last one it sent + 1 goes out, the missing ones are read back from the
 * outbox and sent first (what the outbox no longer holds is announced as a gap): the client never sees an
 * unannounced jump. That read is the only extra outbox call, and only on such a jump. A socket that sends
 * nothing (the client waits for a reply another instance is still streaming) catches up at the client's
 * live-peer pings instead: see `pinged`.
 */
export class Replies {
  #key: string | null = null
  #early: string[] = []
  #chain: Promise<void> = Promise.resolve()
  #pending = 0
  /** The highest number the client has or this socket put on the wire (or announced as gone). */
  #sent = 0
  /** A newer socket of the same incarnation that greeted in this process while this one still looked open. */
  #replaced: Replies | null = null
  /** A ping's outbox check is queued or in flight: the next ping skips it. */
  #checking = false
  /**
   * Sends the outbox refused (its store down), in order, asked again until it takes them; while any wait, a new
   * send joins them, so the outbox numbers them in the order they were sent. Never dropped without a report.
   */
  #unnumbered: string[] = []
  readonly #socket: DeliverySocket
  readonly #outbox: DeliveryOutbox
  readonly #onError: (err: unknown) => void

  constructor (socket: DeliverySocket, outbox: DeliveryOutbox, onError: (err: unknown) => void) {
    this.#socket = socket
    this.#outbox = outbox
    this.#onError = onError
  }

  /** The hello: the session incarnation's key and the last message the client has. */
  greet (key: string, after: number): void {
    this.#key = key
    let map = current.get(this.#outbox)
    if (map === undefined) current.set(this.#outbox, map = new Map())
    // An older socket of the incarnation still open here is half-open (the client has one socket): its sends come here.
    const older = map.get(key)
    if (older !== undefined && older !== this) older.#replaced = this
    map.set(key, this)
    // What the client has is never sent again, whatever the outbox answers (or fails to).
    this.#sent = Math.max(this.#sent, after)
    this.#then(async () => {
      let resumed: Resume
      try {
        resumed = await this.#outbox.resume(key, after)
      } catch (err) {
        // Unreadable now: the client comes back on a new socket and its hello asks again (as for a window read).
        this.#onError(err)
        if (this.#socket.readyState === OPEN) this.#socket.close?.(1013, STORE_DOWN_REASON)
        return
      }
      const { entries, gap } = resumed
      this.#sent = Math.max(this.#sent, gap?.to ?? 0)
      if (this.#socket.readyState !== OPEN) return
      if (gap !== null) this.#socket.send(`${GAP_PREFIX}${gap.from} ${gap.to ?? '?'}`)
      for (const entry of entries) this.#wire(entry.seq, entry.payload)
    })
    const early = this.#early
    this.#early = []
    for (const data of early) this.#append(key, data)
  }

  send (data: string): void {
    if (typeof data !== 'string') throw new TypeError('withDelivery: session.send takes a string')
    if (this.#key === null) {
      if (this.#early.length >= MAX_EARLY) { this.#onError(new Error('withDelivery: session.send before the client\'s hello, beyond 1000 messages: not sent')); return }
      this.#early.push(data)
      return
    }
    this.#append(this.#key, data)
  }

  closed (): void {
    const map = this.#key === null ? undefined : current.get(this.#outbox)
    if (map !== undefined && map.get(this.#key as string) === this) map.delete(this.#key as string)
  }

  acked (seq: number): void {
    if (this.#key === null) return
    try {
      const done = this.#outbox.ack(this.#key, seq)
      if (done !== undefined) Promise.resolve(done).catch(this.#onError)
    } catch (err) { this.#onError(err) }
  }

  /**
   * The client's live-peer ping (every `heartbeatMs` of the client): the outbox's last number (one call, the
   * outbox's optional `last`), and when it is above what this socket sent, the missing ones read back and sent
   * in order, as for a jump. So replies another instance keeps putting in a shared outbox reach a client whose
   * socket here sends nothing within one heartbeat. Per ping, never per message; one check at a time.
   */
  pinged (): void {
    const last = this.#outbox.last
    if (typeof last !== 'function' || this.#key === null || this.#checking || this.#replaced !== null || this.#socket.readyState !== OPEN) return
    const key = this.#key
    let top: number | Promise<number>
    try { top = last.call(this.#outbox, key) } catch (err) { this.#onError(err); return }
    // The memory outbox, nothing in flight: compared at once, nothing queued (the common case: nothing missing).
    if (typeof top === 'number' && this.#pending === 0) {
      const reading = top > this.#sent ? this.#catchUp(key, top) : undefined
      // Its read-back is async (a custom outbox): later sends wait for it, as behind a jump's.
      if (reading !== undefined) this.#then(() => reading)
      return
    }
    const asked = top
    this.#checking = true
    // Behind what this socket still has to send: its own numbers below `top` are on the wire by then.
    this.#then(async () => {
      try {
        const got = await asked
        if (got > this.#sent) await this.#catchUp(key, got)
      } finally { this.#checking = false }
    })
  }

  /** Numbers up to `top` this socket did not send: read back from the outbox and put on the wire (holes as gaps). */
  #catchUp (key: string, top: number): Promise<void> | undefined {
    // Unreadable now: reported; the next ping asks again (nothing waits on it, unlike a jump).
    return this.#readBack(key, (kept) => { this.#fillTo(kept, top) }, this.#onError)
  }

  /** What the outbox holds above what this socket sent, to `use` at once (a promise only if the outbox answers later). */
  #readBack (key: string, use: (kept: Resume) => void, unreadable: (err: unknown) => void): Promise<void> | undefined {
    let kept: Resume | Promise<Resume>
    try { kept = this.#outbox.resume(key, this.#sent) } catch (err) { unreadable(err); return }
    if (!isPromise(kept)) { use(kept); return }
    return kept.then(use, unreadable)
  }

  /** Resolves once everything sent so far is in the outbox and on the wire (or failed, reported). */
  idle (): Promise<void> { return this.#chain }

  /**
   * undefined when everything sent so far is numbered and on the wire (the memory outbox, always); otherwise
   * `idle()`. The pump waits on it before a message's window write and ack: its replies are in the outbox first.
   */
  numbering (): Promise<void> | undefined { return this.#pending === 0 ? undefined : this.#chain }

  #append (key: string, data: string): void {
    // Behind sends the outbox refused: numbered after them, in the order sent.
    if (this.#unnumbered.length > 0) { this.#refused(data, null); return }
    // Asked at once (a Redis connection answers in order, so numbers follow calls); put on the wire in order.
    let seq: number | Promise<number>
    try { seq = this.#outbox.append(key, data, this.#sent) } catch (err) { this.#refused(data, err); return }
    this.#deliver(seq, data)
  }

  /** The outbox did not take `data` (`err`; null: queued behind earlier refusals): kept, in order, and asked again. */
  #refused (data: string, err: unknown): void {
    if (this.#unnumbered.length >= MAX_EARLY) {
      this.#onError(new Error(`withDelivery: session.send while the outbox refused ${MAX_EARLY} messages: not sent`))
      return
    }
    this.#unnumbered.push(data)
    if (this.#unnumbered.length > 1) return
    this.#onError(err)
    this.#then(() => this.#renumber())
  }

  /** Asks the outbox again for the refused sends, oldest first, each put on the wire (or kept there) once numbered. */
  async #renumber (): Promise<void> {
    const key = this.#key as string
    const since = Date.now()
    let pause = RENUMBER_FIRST_MS
    while (this.#unnumbered.length > 0) {
      let seq: number
      try {
        seq = await this.#outbox.append(key, this.#unnumbered[0], this.#sent)
      } catch (err) {
        if (Date.now() - since >= RENUMBER_FOR_MS) {
          const n = this.#unnumbered.length
          this.#unnumbered = []
          this.#onError(new Error(`withDelivery: the outbox refused ${n} message(s) for ${RENUMBER_FOR_MS / 1000} s (${String(err)}): not sent`))
          return
        }
        await new Promise<void>((resolve) => { (setTimeout(resolve, pause) as { unref?: () => void }).unref?.() })
        pause = Math.min(pause * 2, RENUMBER_MAX_MS)
        continue
      }
      const data = this.#unnumbered.shift() as string
      await this.#put(seq, data)
    }
  }

  /** Puts `seq` on the wire behind whatever this socket still has to send (its replay, a jump's read-back). */
  #deliver (seq: number | Promise<number>, data: string): void {
    // The memory outbox answers at once: no promise, no extra tick per message of a streamed reply.
    if (typeof seq === 'number' && this.#pending === 0) {
      const filling = this.#put(seq, data)
      if (filling !== undefined) this.#then(() => filling)
      return
    }
    const numbered = seq
    this.#then(async () => {
      let n: number
      try { n = await numbered } catch (err) { this.#refused(data, err); return }
      await this.#put(n, data)
    })
  }

  /** Sends `seq`; a promise only when a jump must first be filled from the outbox (then later sends wait). */
  #put (seq: number, data: string): Promise<void> | undefined {
    // A newer socket of the incarnation greeted here (this one closed, or half-open and not yet noticed): it takes it.
    if (this.#replaced !== null) { this.#replaced.#deliver(seq, data); return }
    if (this.#socket.readyState !== OPEN) {
      const newer = current.get(this.#outbox)?.get(this.#key as string)
      // Without one, kept in the outbox: the client's next socket replays it at its hello.
      if (newer !== undefined && newer !== this) newer.#deliver(seq, data)
      return
    }
    if (seq <= this.#sent + 1) { this.#wire(seq, data); return }
    // A jump: numbers taken by a send this socket did not make (another instance's handler, a late stream).
    return this.#readBack(this.#key as string, (kept) => { this.#fill(kept, seq, data) }, (err) => { this.#unreadable(err, seq, data) })
  }

  /** The jump cannot be read back: the client resumes on a new socket (its hello replays it all), no gap declared. */
  #unreadable (err: unknown, seq: number, data: string): void {
    this.#onError(err)
    if (typeof this.#socket.close === 'function') { this.#socket.close(1013, STORE_DOWN_REASON); return }
    this.#fill({ entries: [], gap: null }, seq, data)
  }

  /** The missing numbers below `seq` from the outbox, in order, each hole announced as a gap; then `seq`. */
  #fill (kept: Resume, seq: number, data: string): void {
    if (this.#socket.readyState !== OPEN) return
    this.#fillTo(kept, seq - 1)
    this.#wire(seq, data)
  }

  /** The numbers above what this socket sent up to `to`, from `kept`, in order; what it lacks announced as gaps. */
  #fillTo (kept: Resume, to: number): void {
    if (this.#socket.readyState !== OPEN) return
    for (const entry of kept.entries) {
      if (entry.seq <= this.#sent) continue
      if (entry.seq > to) break
      if (entry.seq > this.#sent + 1) this.#gap(entry.seq - 1)
      this.#wire(entry.seq, entry.payload)
    }
    // Gone from the outbox (its bounds) or unreadable: said, never a silent jump.
    if (to > this.#sent) this.#gap(to)
  }

  #gap (to: number): void {
    this.#socket.send(`${GAP_PREFIX}${this.#sent + 1} ${to}`)
    this.#sent = to
  }

  /** On the wire once: a number at or below what the client has or was sent here is a repeat (a replay raced it). */
  #wire (seq: number, data: string): void {
    if (seq <= this.#sent) return
    this.#sent = seq
    this.#socket.send(`${DATA_PREFIX}${seq} ${data}`)
  }

  #then (step: () => Promise<void>): void {
    this.#pending++
    this.#chain = this.#chain.then(step).catch(this.#onError).finally(() => { this.#pending-- })
  }
}

function isPromise<T> (value: T | Promise<T>): value is Promise<T> {
  return typeof (value as Promise<T> | null)?.then === 'function'
}
