import WebSocket from 'ws'
import { ReadinessClient, type WebSocketConstructor } from '../../lib/client/index.js'

/**
 * A chat user of the example server behind a load balancer: sends a numbered message every `everyMs` (0:
 * only when `send()` is called) and, at least once, sends again on a new connection whatever it has not
 * seen acknowledged (the example echoes `{ text, pid }`).
 */
export function chatUser (id: string, url: string, everyMs: number) {
  const client = new ReadinessClient(url, { WebSocket: WebSocket as unknown as WebSocketConstructor, backoff: { initialMs: 100, maxMs: 1000 } })
  const pending = new Set<string>()
  const acked = new Set<string>()
  const ackedBy = new Set<number>()
  const closeCodes: number[] = []
  const refusals: number[] = []
  let sent = 0
  let resent = 0
  client.on('message', (data) => {
    const frame = JSON.parse(String(data)) as { text: string, pid: number }
    if (pending.delete(frame.text)) { acked.add(frame.text); ackedBy.add(frame.pid) }
  })
  client.on('close', ({ code }) => { closeCodes.push(code) })
  client.on('refused', ({ status }) => { refusals.push(status) })
  client.on('open', () => { for (const text of pending) { resent++; client.send(text) } })
  const timer = everyMs > 0 ? setInterval(() => send(), everyMs) : null
  function send (): void {
    const text = `${id}-${sent++}`
    pending.add(text)
    client.send(text)
  }
  return {
    client,
    pending,
    acked,
    ackedBy,
    closeCodes,
    refusals,
    send,
    get resent () { return resent },
    stop () { if (timer !== null) clearInterval(timer) }
  }
}
