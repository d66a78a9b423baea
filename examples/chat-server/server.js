import { buildChatServer } from './app.js'

// The older DRAIN_DELAY_MS of this demo is now the suite's serving delay on shutdown.
if (process.env.DRAIN_DELAY_MS !== undefined && process.env.READINESS_SHUTDOWN_DELAY_MS === undefined) {
  process.env.READINESS_SHUTDOWN_DELAY_MS = process.env.DRAIN_DELAY_MS
}

// Embedded defaults: no external service needed. GATE=off runs the naive variant;
// REDIS_URL and DATABASE_URL add real dependencies through the built-in probes.
const options = {
  gated: process.env.GATE !== 'off',
  warmupMs: Number(process.env.WARMUP_MS ?? 3000),
  mode: process.env.GATE_MODE ?? 'hold',
  redisUrl: process.env.REDIS_URL,
  databaseUrl: process.env.DATABASE_URL,
  logger: { level: process.env.LOG_LEVEL ?? 'info' },
  // The page's "restart cold" button: the build takes seconds before `npm start` listens, so the first warm-up
  // is often over before anyone opens the page. This closes the app (sockets get 1012, the port closes) and
  // starts a fresh one, cold, in the same process: the page shows the whole cold start live.
  onRestart: () => { restarting ??= restart().finally(() => { restarting = null }) }
}
let restarting = null
let app = await buildChatServer(options)

// SIGTERM and SIGINT are handled by the suite (shutdown options): readiness 503, serve for the delay,
// sockets closed with 1012, exit 0. This process must be the one receiving them: run `node server.js`
// (or `npm start`, whose script execs node), never behind a shell that does not forward signals.

// In a pod or on Cloud Run the platform reaches the app on the pod's IP, not on loopback: bind every
// interface there and listen on the PORT the platform sets. Locally, loopback unless HOST says otherwise.
const onPlatform = process.env.KUBERNETES_SERVICE_HOST !== undefined || process.env.K_SERVICE !== undefined
const host = process.env.HOST ?? (onPlatform ? '0.0.0.0' : '127.0.0.1')
const port = Number(process.env.PORT || 3000)
await app.listen({ port, host })

async function restart () {
  await app.close()
  app = await buildChatServer(options)
  await app.listen({ port, host })
}
