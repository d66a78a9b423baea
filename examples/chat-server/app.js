import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import readiness from 'fastify-readiness'
import { SimulatedStore } from './simulated-store.js'

/**
 * A small chat server. `gated: false` builds the naive variant of the incident:
 * it listens at once, accepts every upgrade, and its handler closes with 1011
 * while its store is still warming up.
 */
export async function buildChatServer ({ gated = true, warmupMs = 3000, mode = 'hold', logger = true, drainDelay = 0 } = {}) {
  const store = new SimulatedStore(warmupMs)
  const rooms = new Map()
  const app = Fastify({ logger })
  await app.register(websocket)
  if (gated) {
    await app.register(readiness, {
      probes: { store: { check: (signal) => store.ping(signal), timeout: 500 } },
      phases: {
        dependencies: { probes: ['store'] },
        websocket: { after: ['dependencies'], run: async () => { rooms.clear() } }
      },
      websocket: { mode, drainDelay },
      health: { details: (request) => request.ip === '127.0.0.1' }
    })
  }

  app.get('/chat/:room', { websocket: true }, (socket, request) => {
    const { room } = request.params
    if (!store.isUp()) {
      // What the incident saw: the handshake succeeded, the handler could not serve.
      socket.close(1011, 'store not ready')
      return
    }
    const members = rooms.get(room) ?? new Set()
    rooms.set(room, members)
    members.add(socket)
    socket.on('close', () => members.delete(socket))
    socket.on('message', (data) => {
      const text = data.toString()
      let seq
      try {
        seq = store.append(room, text)
      } catch {
        socket.close(1011, 'store failed')
        return
      }
      const frame = JSON.stringify({ room, seq, text })
      for (const member of members) member.send(frame)
    })
  })

  app.get('/', async (_request, reply) => reply.type('text/html').send(PAGE))
  return app
}

const PAGE = `<!doctype html>
<meta charset="utf-8"><title>fastify-readiness chat demo</title>
<h1>chat demo</h1><p id="state">connecting…</p><ul id="log"></ul>
<form id="f"><input id="t" autocomplete="off"><button>send</button></form>
<script>
const log = (s) => { const li = document.createElement('li'); li.textContent = s; document.getElementById('log').append(li) }
const state = (s) => { document.getElementById('state').textContent = s }
let ws
async function connect () {
  // A refused upgrade looks like close 1006 to a browser: ask /health/websocket when to retry.
  const health = await fetch('/health/websocket').catch(() => null)
  if (!health || health.status !== 200) {
    const wait = Number(health?.headers.get('retry-after') ?? 1)
    state('server warming up, retrying in ' + wait + ' s'); setTimeout(connect, wait * 1000); return
  }
  ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/chat/lobby')
  ws.onopen = () => state('connected')
  ws.onmessage = (e) => { const m = JSON.parse(e.data); log('#' + m.seq + ' ' + m.text) }
  ws.onclose = (e) => { state('closed ' + e.code + ', reconnecting'); setTimeout(connect, 500) }
}
document.getElementById('f').onsubmit = (e) => { e.preventDefault(); ws?.send(document.getElementById('t').value); document.getElementById('t').value = '' }
connect()
</script>`
