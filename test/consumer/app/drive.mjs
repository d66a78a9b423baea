// Connects to the running Quick start across its cold start and prints what happened as JSON.
//   node drive.mjs <port> hold|reject <server pid>   (SIGUSR2 to the server ends its cold start)
import WebSocket from 'ws'
import { ReadinessClient } from 'fastify-readiness/client'

const [port, mode, pid] = process.argv.slice(2)
const warmUp = () => process.kill(Number(pid), 'SIGUSR2')
const base = `127.0.0.1:${port}`
const health = async () => (await fetch(`http://${base}/health/ready`)).status
const result = { mode, healthBefore: await health() }
const started = Date.now()

if (mode === 'hold') {
  const ws = new WebSocket(`ws://${base}/ws`)
  const opened = new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject) })
  // Give the upgrade a moment to reach the server (not an assertion), then end the cold start.
  let warm = false
  ws.once('upgrade', () => { if (!warm) result.openedBeforeWarm = true })
  await new Promise((resolve) => setTimeout(resolve, 300))
  warm = true
  warmUp()
  await opened
  result.openedAfterMs = Date.now() - started
  result.healthAtOpen = await health()
  const echo = new Promise((resolve) => ws.once('message', (data) => resolve(data.toString())))
  ws.send('hello')
  result.echo = await echo
  ws.close()
} else {
  // A plain client is refused while the app is cold...
  result.rawStatus = await new Promise((resolve) => {
    const ws = new WebSocket(`ws://${base}/ws`)
    ws.once('unexpected-response', (req, res) => { resolve(res.statusCode); req.destroy() })
    ws.once('open', () => { resolve('open'); ws.close() })
    ws.once('error', () => {})
  })
  // ...and the package's own client comes back once it is ready.
  const client = new ReadinessClient(`ws://${base}/ws`, { WebSocket, backoff: { initialMs: 100, maxMs: 500 } })
  let refused = 0
  client.on('refused', () => { if (refused++ === 0) warmUp() })
  await new Promise((resolve) => client.on('open', resolve))
  result.openedAfterMs = Date.now() - started
  result.refusedBeforeOpen = refused
  result.healthAtOpen = await health()
  const echo = new Promise((resolve) => client.on('message', (data) => resolve(String(data))))
  client.send('hello')
  result.echo = await echo
  client.close()
}
console.log(JSON.stringify(result))
