import { STATUS_CODES } from 'node:http'
import type { Duplex } from 'node:stream'
import type { GateRefusal } from '../core/readiness.js'
import type { HoldOutcome } from './route-gate.js'

/**
 * Answers an upgrade request with a plain HTTP response and closes the socket
 * after it is flushed. An upgrade socket is detached from Node's HTTP machinery,
 * so a response written through Fastify's reply would leave it open (or be cut
 * by an early destroy); this mirrors what ws does when it aborts a handshake.
 */
export function respondOnUpgradeSocket (socket: Duplex, status: number, headers: Record<string, string>, body: string): void {
  if (socket.destroyed || !socket.writable) {
    socket.destroy()
    return
  }
  const lines = [`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}`]
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`)
  lines.push(`Content-Length: ${Buffer.byteLength(body)}`)
  socket.once('finish', () => socket.destroy())
  socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`)
}

export function unavailableHeaders (retryAfter: number): Record<string, string> {
  return {
    'Retry-After': String(retryAfter),
    Connection: 'close',
    'Cache-Control': 'no-store',
    'Content-Type': 'application/json; charset=utf-8'
  }
}

/** Why an upgrade or a gated request was refused, as the gate's states name it. */
export type RefusalState = HoldOutcome | 'not-ready' | 'ungated-route'

/** The state as the `gateRefused` event names it. */
export function refusalOf (state: RefusalState): GateRefusal {
  if (state === 'draining') return 'closing'
  if (state === 'timeout' || state === 'full' || state === 'ungated-route') return state
  return 'not-ready'
}

/** 503 + Retry-After on a raw upgrade socket; the body names the state (an ungated route reads as not ready). */
export function refuseOnUpgradeSocket (socket: Duplex, state: RefusalState, retryAfter: number): void {
  socket.on('error', () => socket.destroy())
  const body = JSON.stringify({ statusCode: 503, state: state === 'ungated-route' ? 'not-ready' : state, retryAfter })
  respondOnUpgradeSocket(socket, 503, unavailableHeaders(retryAfter), body)
}
