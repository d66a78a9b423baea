// The client subpath, typed, with the `ws` package as its WebSocket (as docs/client.md shows).
import WebSocket from 'ws'
import { ReadinessClient, type ReadinessClientOptions } from 'fastify-readiness/client'

const options: ReadinessClientOptions = { WebSocket, maxAttempts: 3 }
export const client: ReadinessClient = new ReadinessClient('ws://127.0.0.1:1/ws', options)

// The browser bundle's subpath carries the same declarations (a bundler or an import map points at it).
export type { ReadinessClient as BrowserClient } from 'fastify-readiness/client/browser'
