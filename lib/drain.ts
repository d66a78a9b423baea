/** The part of a ws socket that draining needs. */
export interface DrainableSocket {
  readyState: number
  close: (code?: number, reason?: string) => void
  terminate: () => void
  once: (event: 'close', listener: () => void) => unknown
}

const CLOSED = 3

export interface DrainResult {
  /** Sockets that completed the closing handshake in time. */
  closed: number
  /** Sockets that did not answer the close frame within the timeout and were cut. */
  terminated: number
}

/**
 * Sends every socket a close frame with `code`, waits until all are gone or
 * `timeout` ms pass, then terminates the rest. Bounded: a peer that never
 * answers cannot hold shutdown for ws's own 30 s close timeout.
 */
export async function drainSockets (sockets: Iterable<DrainableSocket>, code: number, reason: string, timeout: number): Promise<DrainResult> {
  const pending = new Set<DrainableSocket>()
  const waits: Array<Promise<void>> = []
  for (const socket of sockets) {
    if (socket.readyState === CLOSED) continue
    pending.add(socket)
    waits.push(new Promise<void>((resolve) => socket.once('close', () => { pending.delete(socket); resolve() })))
    socket.close(code, reason)
  }
  if (pending.size === 0) return { closed: 0, terminated: 0 }
  let timer: NodeJS.Timeout | undefined
  await Promise.race([
    Promise.all(waits),
    new Promise<void>((resolve) => { timer = setTimeout(resolve, timeout) })
  ])
  clearTimeout(timer)
  const terminated = pending.size
  for (const socket of pending) socket.terminate()
  return { closed: waits.length - terminated, terminated }
}
