import WebSocket from 'ws'
import { closed, connect, sleep } from './net.js'

export interface ClientReport {
  id: number
  /** Got in and had its message echoed. */
  in: boolean
  attempts: number
  /** Close codes seen on sockets that opened (1013 for accept-then-close refusals). */
  closeCodes: number[]
  /** HTTP statuses of refused upgrades. */
  refusals: number[]
  openedAt: number | null
  echoed: boolean
  errors: string[]
}

/**
 * One client of a connection storm: connects, and when refused (503 with
 * Retry-After, or an accepted socket closed with 1013 and a retry hint) waits as
 * told and tries again, up to `deadline`. Once in, sends one message and waits
 * for its echo.
 */
export async function stormClient (id: number, url: string, deadline: number, retryScale = 1): Promise<ClientReport> {
  const report: ClientReport = { id, in: false, attempts: 0, closeCodes: [], refusals: [], openedAt: null, echoed: false, errors: [] }
  while (Date.now() < deadline) {
    report.attempts++
    const outcome = await connect(url, { handshakeTimeout: 10_000 })
    if (outcome.kind === 'refused') {
      report.refusals.push(outcome.status)
      const seconds = Number(outcome.headers['retry-after'] ?? 1)
      await sleep(seconds * 1000 * retryScale)
      continue
    }
    if (outcome.kind === 'error') {
      report.errors.push(outcome.error.message)
      await sleep(100)
      continue
    }
    const ws = outcome.ws
    const end = closed(ws)
    const message = `hello from ${id}`
    const echo = new Promise<boolean>((resolve) => {
      ws.once('message', (data) => resolve(data.toString() === message))
      ws.once('close', () => resolve(false))
    })
    if (ws.readyState === WebSocket.OPEN) ws.send(message)
    const echoed = await echo
    if (echoed) {
      report.in = true
      report.echoed = true
      report.openedAt = outcome.at
      ws.close(1000)
      report.closeCodes.push((await end).code)
      return report
    }
    const { code, reason } = await end
    report.closeCodes.push(code)
    if (code !== 1013) return report // anything but "try again later" is final for this client
    const hint = /retry in (\d+)s/.exec(reason)
    await sleep(Number(hint?.[1] ?? 1) * 1000 * retryScale)
  }
  return report
}
