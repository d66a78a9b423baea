// A CommonJS consumer: require() of the ESM-only package (Node ^20.19.0 || >=22.12.0), held across a
// cold start, then echo.
'use strict'
const Fastify = require('fastify')
const websocket = require('@fastify/websocket')
const { fastifyReadiness } = require('fastify-readiness')
const { ReadinessClient } = require('fastify-readiness/client')
const WebSocket = require('ws')

async function main () {
  const app = Fastify()
  await app.register(websocket)
  const warmAt = Date.now() + 500
  await app.register(fastifyReadiness, {
    probes: { warm: async () => { if (Date.now() < warmAt) throw new Error('cold') } },
    websocket: { mode: 'hold' }
  })
  app.get('/ws', { websocket: true }, (socket) => { socket.on('message', (data) => socket.send(String(data))) })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address()
  const started = Date.now()
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`)
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject) })
  const openedAfterMs = Date.now() - started
  const echo = new Promise((resolve) => ws.once('message', (data) => resolve(String(data))))
  ws.send('hello from require()')
  const result = { openedAfterMs, echo: await echo, client: typeof ReadinessClient }
  ws.close()
  await app.close()
  console.log(JSON.stringify(result))
}
main().catch((error) => { console.error(error); process.exit(1) })
