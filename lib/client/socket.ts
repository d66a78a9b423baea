import { parseRetryAfter } from './backoff.js'
import type { WebSocketLike } from './types.js'

/** One socket's events, as the connection loop needs them; the browser and Node (`ws`) differences end here. */
export interface SocketEvents {
  /** Node only: the upgrade was refused; `hintMs` from its Retry-After, `retryAfter` in seconds as sent. */
  refused: (status: number, hintMs: number | null, retryAfter: number | null) => void
  open: () => void
  message: (data: unknown) => void
  /** `opened`: the handshake had finished. A close before it is 1006 (browsers report a refused upgrade so). */
  close: (code: number, reason: string, opened: boolean) => void
}

type NodeSocket = { on?: (event: string, fn: (...args: any[]) => void) => void, terminate?: () => void }
type UpgradeResponse = { statusCode?: number, headers: Record<string, string | undefined>, resume: () => void }

export function watchSocket (socket: WebSocketLike, events: SocketEvents): void {
  let opened = false
  // Node's ws reports a refused upgrade with its status; browsers only see 1006.
  const nodeSocket = socket as unknown as NodeSocket
  if (typeof nodeSocket.on === 'function') {
    nodeSocket.on('unexpected-response', (_request: unknown, response: UpgradeResponse) => {
      const header = response.headers['retry-after']
      const hintMs = parseRetryAfter(header)
      const seconds = header !== undefined && /^\s*\d+\s*$/.test(header) ? Number(header) : (hintMs === null ? null : Math.ceil(hintMs / 1000))
      events.refused(response.statusCode ?? 0, hintMs, seconds)
      response.resume()
      // Handling this event leaves ws in CONNECTING; terminate() aborts the handshake and closes (1006).
      nodeSocket.terminate?.()
    })
    // Without a listener, a failed handshake would be an uncaught 'error' on some ws versions.
    nodeSocket.on('error', () => {})
  }
  socket.onopen = () => { opened = true; events.open() }
  socket.onmessage = (event) => { events.message(event.data) }
  socket.onerror = () => {} // the close that follows decides
  socket.onclose = (event) => {
    const code = opened ? event.code : (event.code === 1005 || event.code === 1000 ? 1006 : event.code)
    events.close(code, event.reason ?? '', opened)
  }
}

/** Stops listening to a socket the client is done with. */
export function detach (socket: WebSocketLike): void {
  socket.onopen = socket.onmessage = socket.onclose = null
  socket.onerror = () => {}
}

/** Ends a handshake in progress (ws: terminate; browsers: close). */
export function abort (socket: WebSocketLike): void {
  const node = socket as unknown as NodeSocket
  try {
    if (typeof node.terminate === 'function') node.terminate()
    else socket.close()
  } catch {}
}
