import { buildChatServer } from './app.js'

// Embedded defaults: no external service needed. GATE=off runs the naive variant;
// REDIS_URL and DATABASE_URL add real dependencies through the built-in probes.
const app = await buildChatServer({
  gated: process.env.GATE !== 'off',
  warmupMs: Number(process.env.WARMUP_MS ?? 3000),
  mode: process.env.GATE_MODE ?? 'hold',
  redisUrl: process.env.REDIS_URL,
  databaseUrl: process.env.DATABASE_URL,
  logger: { level: process.env.LOG_LEVEL ?? 'info' }
})

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    app.log.info({ signal }, 'shutting down: readiness turns 503, sockets close with 1012')
    // Readiness turns 503 at once; the app keeps serving while the load balancer notices, then closes.
    app.readiness?.startDraining()
    setTimeout(() => {
      app.close().then(() => process.exit(0), (err) => { app.log.error(err); process.exit(1) })
    }, Number(process.env.DRAIN_DELAY_MS ?? 0))
  })
}

await app.listen({ port: Number(process.env.PORT ?? 3000), host: process.env.HOST ?? '127.0.0.1' })
