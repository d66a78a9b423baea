import { settleBeforeClose } from '../common/before-close.js'

/** The part of a ws socket that draining needs. */
export interface DrainableSocket {
  readyState: number
  close: (code?: number, reason?: string) => void
  terminate: () => void
  once: (event: 'close', listener: () => void) => unknown
}

const CLOSING = 2
const CLOSED = 3

export interface DrainOptions {
  /** Close code sent to every socket (1012 or 1001). */
  code: number
  reason: string
  /** How long a socket gets, after its close frame, to finish the closing handshake before it is cut. */
  timeout: number
  /**
   * Window over which the close frames are spread, in ms. Closing every socket
   * in one tick sends every client to the surviving instances at once (a
   * reconnect herd); spread uniformly at random, they arrive as a trickle.
   */
  spread: number
  random?: () => number
}

export interface DrainResult {
  /** Sockets that completed the closing handshake in time. */
  closed: number
  /** Sockets that did not answer the close frame within the timeout and were cut. */
  terminated: number
}

/**
 * Sends every socket a close frame with `code` at a random moment within
 * `spread`, and cuts each one that has not finished closing `timeout` ms after
 * its frame. Bounded by `spread + timeout` (`spread + 2 x timeout` for a socket
 * with a before-close hook: up to `timeout` to settle, then the frame): a peer that never answers cannot
 * hold shutdown for ws's own 30 s close timeout. Sockets already closing (an
 * app's own preClose got there first) are waited for within the same bound,
 * never sent a second frame.
 */
export async function drainSockets (sockets: Iterable<DrainableSocket>, options: DrainOptions): Promise<DrainResult> {
  const random = options.random ?? Math.random
  const timers = new Set<NodeJS.Timeout>()
  let terminated = 0
  const waits: Array<Promise<void>> = []
  for (const socket of sockets) {
    if (socket.readyState === CLOSED) continue
    waits.push(new Promise<void>((resolve) => {
      let cut: NodeJS.Timeout | undefined
      socket.once('close', () => {
        if (cut !== undefined) { clearTimeout(cut); timers.delete(cut) }
        resolve()
      })
      const sendClose = (): void => {
        // A socket whose owner registered work to finish first (lib/common/before-close.ts: the delivery
        // helper's running handler and its ack) gets up to `timeout` for it; others close at once, as before.
        const settling = socket.readyState < CLOSING ? settleBeforeClose(socket, options.timeout) : null
        if (settling === null) closeNow()
        else void settling.then(() => { if (socket.readyState !== CLOSED) closeNow() })
      }
      const closeNow = (): void => {
        if (socket.readyState < CLOSING) socket.close(options.code, options.reason)
        cut = setTimeout(() => {
          timers.delete(cut as NodeJS.Timeout)
          if (socket.readyState !== CLOSED) {
            terminated++
            socket.terminate()
          }
        }, options.timeout)
        timers.add(cut)
      }
      const at = socket.readyState < CLOSING && options.spread > 0 ? Math.floor(random() * options.spread) : 0
      if (at === 0) {
        sendClose()
      } else {
        const timer = setTimeout(() => { timers.delete(timer); sendClose() }, at)
        timers.add(timer)
      }
    }))
  }
  if (waits.length === 0) return { closed: 0, terminated: 0 }
  await Promise.all(waits)
  for (const timer of timers) clearTimeout(timer)
  return { closed: waits.length - terminated, terminated }
}
