import { DATA_PREFIX, GAP_PREFIX } from '../client/frames.js'
import type { DeliveryOutbox } from './outbox.js'
import type { DeliverySocket } from './types.js'

const OPEN = 1
/** Sent before the client's hello said who it is: kept this long a list, then refused (reported). */
const MAX_EARLY = 1000

/** Per outbox, the socket of each session incarnation that greeted last in this process. */
const current = new WeakMap<object, Map<string, Replies>>()

/**
 * One socket's server-to-client half: `send` numbers each message in the outbox of the socket's session
 * incarnation and puts it on the wire, in order; the client's hello replays what it missed (here or, with a
 * shared outbox, from another instance), its batched acks drop what it has. A handler that keeps sending
 * after its socket closed (a stream cut mid-way) reaches the incarnation's newer socket in this process;
 * on another instance it is replayed at the client's next resume.
 */
export class Replies {
  #key: string | null = null
  #early: string[] = []
  #chain: Promise<void> = Promise.resolve()
  #pending = 0
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
    map.set(key, this)
    this.#then(async () => {
      const { entries, gap } = await this.#outbox.resume(key, after)
      if (this.#socket.readyState !== OPEN) return
      if (gap !== null) this.#socket.send(`${GAP_PREFIX}${gap.from} ${gap.to ?? '?'}`)
      for (const entry of entries) this.#socket.send(`${DATA_PREFIX}${entry.seq} ${entry.payload}`)
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

  /** Resolves once everything sent so far is in the outbox and on the wire (or failed, reported). */
  idle (): Promise<void> { return this.#chain }

  #append (key: string, data: string): void {
    // Asked at once (a Redis connection answers in order, so numbers follow calls); put on the wire in order.
    let seq: number | Promise<number>
    try { seq = this.#outbox.append(key, data) } catch (err) { this.#onError(err); return }
    // The memory outbox answers at once: no promise, no extra tick per message of a streamed reply.
    if (typeof seq === 'number' && this.#pending === 0) { this.#put(seq, data); return }
    const numbered = seq
    this.#then(async () => { this.#put(await numbered, data) })
  }

  #put (seq: number, data: string): void {
    if (this.#socket.readyState === OPEN) { this.#socket.send(`${DATA_PREFIX}${seq} ${data}`); return }
    // This socket is gone: the incarnation's newer socket here, if any, takes it (its client drops a repeat).
    const newer = this.#key === null ? undefined : current.get(this.#outbox)?.get(this.#key)
    // Behind whatever the newer socket still has to send (its replay first): the client sees them in order.
    if (newer !== undefined && newer !== this) {
      if (newer.#pending === 0) newer.#put(seq, data)
      else newer.#then(async () => { newer.#put(seq, data) })
    }
  }

  #then (step: () => Promise<void>): void {
    this.#pending++
    this.#chain = this.#chain.then(step).catch(this.#onError).finally(() => { this.#pending-- })
  }
}
