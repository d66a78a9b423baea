import type { DedupeStore } from './store.js'
import type { DeliveryOutbox } from './outbox.js'

/** The public types of the delivery helper: what it is given (socket, handler, options) and what it reports. */

/**
 * `incarnation`: the client object that numbered it (a page load, a tab, a process; '' for a client that sent
 * no hello). Numbers start at 1 in every incarnation: key an idempotent effect on all three.
 */
export interface DeliveryContext { session: string, seq: number, incarnation: string }

/**
 * A numbered message: its text (always a string) and `ctx`. A frame the client did not number: `ctx` null, and
 * the frame untouched: a text frame as a string, a binary frame as a Buffer (the `ws` `isBinary` flag decides).
 */
export type DeliveryHandler = (data: string | Buffer, ctx: DeliveryContext | null) => void | Promise<void>

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
  /**
   * A handler that throws still counts as handled (recorded and acked): re-delivering what the app rejected
   * would loop, and an ack covers every number up to it. Reported here, as are store errors: a failed read
   * closes the socket 1013 `delivery store unavailable` (nothing handled, the client re-sends); a failed write
   * after the handler is acked anyway (the client must not re-send what was handled).
   */
  onError?: (error: unknown, ctx: DeliveryContext | null) => void
  /**
   * Prefixes every session in the window, e.g. the authenticated user's id, so a client that learns or
   * guesses another's session id cannot make the helper drop that client's messages as duplicates.
   */
  scope?: string
  /** Messages waiting behind a slow handler; beyond this the socket is closed 1013 and the client re-sends later (default 1000). */
  maxQueued?: number
  /**
   * A numbered message's handler that has not settled after this long is given up on (default 30,000 ms): a
   * `DeliveryTimeoutError` goes to `onError`, the message's claim is released at once (in the process and in a
   * shared store; its renewal stops), so a re-send may run it again here or on another instance (at-least-once),
   * and the socket closes 1011 so the client re-sends everything unacknowledged. Nothing is recorded or acked
   * for it, even if the handler settles later.
   */
  handlerTimeoutMs?: number
  /**
   * At most one live incarnation per session id (in the process, and across a fleet with a store that has
   * `lease`, e.g. redisDedupe). A second one's socket closes 4409 `delivery session in use; retry in 5s` and
   * the client emits `error`; nothing of it is handled or acked. Default false: every incarnation has its
   * own window, so two tabs sharing an id are both handled.
   */
  exclusive?: boolean
  /**
   * Where `send`'s messages wait for the client's ack (default: the process's memoryOutbox(): a client that
   * reconnects to another instance gets `resumeFailed`). `redisOutbox(redis)` replays on any instance.
   */
  outbox?: DeliveryOutbox
}

/** `waited`: messages that arrived while a handler (on another socket, or another instance) was still on their session. */
export interface DeliveryStats { handled: number, duplicates: number, passthrough: number, waited: number }

/**
 * What withDelivery returns: its live counters, and `send` for server-to-client delivery. A message sent is
 * numbered in the outbox of the socket's session incarnation, put on the wire in order, and kept until the
 * client acknowledges it; a client that reconnects (to this instance, or to any with `redisOutbox`) gets
 * what it missed replayed, or a `resumeFailed` event when that is beyond the outbox's bounds. Strings only.
 */
export interface DeliverySession extends DeliveryStats { send: (data: string) => void }
