import type { FastifyInstance } from 'fastify'
import { createServer, connect as tcpConnect, type Socket } from 'node:net'
import type { Test } from 'tap'
import WebSocket from 'ws'

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** Listens on a free loopback port and returns the base URLs. */
export async function listen (app: FastifyInstance): Promise<{ http: string, ws: string, port: number }> {
  await app.listen({ port: 0, host: '127.0.0.1' })
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('no port')
  return { http: `http://127.0.0.1:${address.port}`, ws: `ws://127.0.0.1:${address.port}`, port: address.port }
}

export type WsOutcome =
  | { kind: 'open', ws: WebSocket, at: number }
  | { kind: 'refused', status: number, headers: Record<string, string | string[] | undefined>, body: string, at: number }
  | { kind: 'error', error: Error, at: number }

/** Opens a real ws client and reports how the handshake ended. */
export function connect (url: string, options: WebSocket.ClientOptions = {}): Promise<WsOutcome> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, options)
    ws.once('open', () => resolve({ kind: 'open', ws, at: Date.now() }))
    ws.once('unexpected-response', (_req, res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { body += chunk })
      res.on('end', () => resolve({ kind: 'refused', status: res.statusCode ?? 0, headers: res.headers, body, at: Date.now() }))
    })
    ws.once('error', (error) => resolve({ kind: 'error', error, at: Date.now() }))
  })
}

/** Resolves with the close code and reason a socket ends with. */
export function closed (ws: WebSocket): Promise<{ code: number, reason: string }> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve({ code: -1, reason: 'already closed' })
  return new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })))
}

export function nextMessage (ws: WebSocket): Promise<string> {
  return new Promise((resolve, reject) => {
    ws.once('message', (data) => resolve(data.toString()))
    ws.once('close', (code) => reject(new Error(`closed with ${code} before a message`)))
  })
}

export async function getJson (url: string, init: RequestInit = {}): Promise<{ status: number, headers: Headers, body: any }> {
  const res = await fetch(url, init)
  const text = await res.text()
  return { status: res.status, headers: res.headers, body: text === '' ? null : JSON.parse(text) }
}

/**
 * A hand-written upgrade request on a raw TCP socket, for what a ws client
 * cannot do: reset mid-hold, or complete the handshake and then never answer.
 */
export function rawUpgrade (port: number, path: string): Promise<{ socket: import('node:net').Socket, received: () => string, ended: Promise<void> }> {
  return import('node:net').then(({ connect: tcp }) => new Promise((resolve, reject) => {
    const socket = tcp({ port, host: '127.0.0.1' })
    let data = ''
    socket.setEncoding('latin1')
    socket.on('data', (chunk: string) => { data += chunk })
    socket.on('error', () => {})
    const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()))
    socket.once('connect', () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n')
      resolve({ socket, received: () => data, ended })
    })
    socket.once('error', reject)
  }))
}

export async function until (predicate: () => boolean, timeout = 5000): Promise<void> {
  const deadline = Date.now() + timeout
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await sleep(2)
  }
}

/** A TCP proxy: every new connection goes to `target()`; `cut()` drops every proxied connection (a network break). */
export async function tcpProxy (t: Test, target: () => number): Promise<{ port: number, cut: () => void, connections: () => number }> {
  const pairs = new Set<Socket>()
  let connections = 0
  const server = createServer((client) => {
    connections++
    const upstream = tcpConnect(target(), '127.0.0.1')
    for (const s of [client, upstream]) { pairs.add(s); s.on('error', () => {}); s.on('close', () => { pairs.delete(s); client.destroy(); upstream.destroy() }) }
    client.pipe(upstream)
    upstream.pipe(client)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => { for (const s of pairs) s.destroy(); server.close(() => resolve()) }))
  return { port: (server.address() as { port: number }).port, cut: () => { for (const s of pairs) s.destroy() }, connections: () => connections }
}
