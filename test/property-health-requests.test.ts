import t from 'tap'
import fc from 'fast-check'
import { connect as tcp } from 'node:net'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import readiness from '../index.js'
import { listen } from './helpers/net.js'

/**
 * Arbitrary requests against a real listening app with every health route
 * (issue 16): whatever the method, path, query or headers, the answer is never
 * a 5xx other than the intended 503, never carries a secret, and the server
 * keeps answering.
 */
const SECRET = 's3cretPa55'

async function raw (port: number, request: string): Promise<string> {
  return await new Promise((resolve, reject) => {
    const socket = tcp({ port, host: '127.0.0.1' })
    let data = ''
    socket.setEncoding('latin1')
    socket.setTimeout(5000, () => { socket.destroy(); reject(new Error(`no answer to ${JSON.stringify(request.slice(0, 200))}`)) })
    socket.on('data', (chunk: string) => { data += chunk })
    socket.on('end', () => resolve(data))
    socket.on('close', () => resolve(data))
    socket.on('error', () => resolve(data))
    socket.write(request, 'latin1')
  })
}

const token = fc.stringMatching(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,10}$/)
const printable = (max: number): fc.Arbitrary<string> => fc.string({ maxLength: max, unit: 'binary-ascii' }).map((s) => s.replace(/[\r\n]/g, ''))
const method = fc.oneof({ weight: 6, arbitrary: fc.constantFrom('GET', 'HEAD') }, { weight: 2, arbitrary: fc.constantFrom('POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'TRACE', 'CONNECT', 'BREW') }, token)
const segment = fc.constantFrom('live', 'ready', 'startup', 'websocket', 'ready/core', 'ready/nope', '', 'live/', 'LIVE', '..', '%2e%2e', '%00', 'ready%2Fcore')
const path = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(fc.constantFrom('/health', '/health/', '//health', '/health/.', '/HEALTH', '/'), segment, fc.constantFrom('', '?', '?x=1', '?details=1&a[]=b', '#frag', '?%ff')).map(([a, b, c]) => `${a}${a.endsWith('/') ? '' : '/'}${b}${c}`) },
  { weight: 2, arbitrary: fc.string({ maxLength: 40 }).map((s) => `/health/${encodeURI(s.replace(/[\ud800-\udfff]/g, ''))}`) },
  printable(60).map((s) => `/health/${s}`),
  printable(60)
)
const headerValue = fc.oneof({ weight: 6, arbitrary: fc.string({ maxLength: 40 }).map((s) => s.replace(/[^\x20-\x7e]/g, '').trim()) }, printable(80), fc.constantFrom('application/health+json', 'application/json;q=0.1, application/health+json', '*/*', 'text/html', 'https://a.example.com', 'null', 'Bearer x', '127.0.0.1', '::1, 10.0.0.1', 'x'.repeat(4000)))
const headers = fc.array(fc.tuple(fc.oneof({ weight: 4, arbitrary: fc.constantFrom('Accept', 'Origin', 'Authorization', 'X-Forwarded-For', 'Cookie', 'If-None-Match', 'Range', 'Expect', 'Upgrade', 'Connection') }, token), headerValue), { maxLength: 3 })
const version = fc.oneof({ weight: 8, arbitrary: fc.constant('HTTP/1.1') }, fc.constantFrom('HTTP/1.0', 'HTTP/2.0', 'HTTP/0.9', 'FOO'))

t.test('arbitrary health requests never get a 5xx other than 503 and never leak a secret', async (t) => {
  const app = Fastify({ logger: false })
  t.teardown(() => app.close())
  await app.register(websocket)
  await app.register(readiness, {
    probes: {
      db: { check: async () => { throw new Error(`connect postgres://app:${SECRET}@db.internal/app failed\n    at stack`) }, startIntervalMs: 10 },
      cache: { check: async () => ({ status: 'warn', observedValue: 0.93, observedUnit: 'ratio', details: { password: SECRET, hits: 12 } }), critical: false },
      thrower: { check: () => { throw Object.create(null) }, critical: false }
    },
    health: { exposeNames: true, details: 'always', groups: { core: ['cache'] }, cors: ['https://a.example.com'] }
  })
  const { port } = await listen(app)
  await app.readiness.checkProbe('db')
  await app.readiness.checkProbe('cache')
  const statuses = new Map<string, number>()
  await fc.assert(fc.asyncProperty(method, path, version, headers, async (m, p, v, hs) => {
    const lines = [`${m} ${p} ${v}`, 'Host: 127.0.0.1', ...hs.map(([k, val]) => `${k}: ${val}`), 'Connection: close', '', '']
    const response = await raw(port, lines.join('\r\n'))
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(response)?.[1] ?? 0)
    statuses.set(String(status), (statuses.get(String(status)) ?? 0) + 1)
    if (response.includes(SECRET)) throw new Error(`secret leaked for ${lines[0]}`)
    if (status >= 500 && status !== 503) throw new Error(`${status} for ${JSON.stringify(lines.join('\\r\\n').slice(0, 300))}\n${response.slice(0, 500)}`)
    return true
  }), { numRuns: 300 })
  t.comment(`statuses seen: ${JSON.stringify(Object.fromEntries(statuses))}`)
  const live = await raw(port, 'GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
  t.match(live, /^HTTP\/1\.1 200/, 'the server still answers')
  const ready = await raw(port, 'GET /health/ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
  t.match(ready, /^HTTP\/1\.1 503/, 'the intended 503 while the critical probe fails')
})
