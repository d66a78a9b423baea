/**
 * Where the helper remembers, per client session, the highest message number
 * the app has finished with. A client numbers its messages 1, 2, 3... and the
 * helper handles them in order, so one number per session is the whole dedupe
 * window: anything at or below it was handled and is dropped (and acked again).
 */
export interface DedupeStore {
  /** The highest number handled in this session, 0 when none (or forgotten after the TTL). */
  load: (session: string) => number | Promise<number>
  /** Records that `seq` was handled; never lowers what is stored. */
  save: (session: string, seq: number) => void | Promise<unknown>
}

export interface MemoryDedupeOptions {
  /** Forget a session this long after its last message (default 10 min). */
  ttlMs?: number
  /** At most this many sessions; the least recently used go first (default 100,000). */
  maxSessions?: number
}

/** The default: one process's memory. A client that lands on another instance is not covered: use redisDedupe. */
export function memoryDedupe (options: MemoryDedupeOptions = {}): DedupeStore {
  const ttlMs = positive('memoryDedupe.ttlMs', options.ttlMs, 600_000)
  const maxSessions = positive('memoryDedupe.maxSessions', options.maxSessions, 100_000)
  // Map order is insertion order; re-inserting on every save keeps it least-recently-used first.
  const sessions = new Map<string, { seq: number, expires: number }>()
  return {
    load (session) {
      const entry = sessions.get(session)
      if (entry === undefined) return 0
      if (entry.expires <= Date.now()) { sessions.delete(session); return 0 }
      return entry.seq
    },
    save (session, seq) {
      const now = Date.now()
      const previous = sessions.get(session)
      sessions.delete(session)
      sessions.set(session, { seq: Math.max(seq, previous !== undefined && previous.expires > now ? previous.seq : 0), expires: now + ttlMs })
      while (sessions.size > maxSessions) sessions.delete(sessions.keys().next().value as string)
    }
  }
}

/** The two ioredis methods the Redis store uses (ioredis stays an optional peer: nothing is imported). */
export interface RedisLike {
  get: (key: string) => Promise<string | null>
  eval: (script: string, numKeys: number, ...args: Array<string | number>) => Promise<unknown>
}

export interface RedisDedupeOptions {
  /** Key prefix, so the window shares a Redis with anything else (default `fastify-readiness:delivery:`). */
  prefix?: string
  /** Each session key expires this long after its last message (default 10 min). */
  ttlMs?: number
}

// Raise-only, with a sliding TTL: two instances racing on one session can never lower the mark.
const RAISE = `local c = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > c then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) else redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1`

/** The fleet's window: every instance sharing this Redis knows what any of them handled. Never flushes anything. */
export function redisDedupe (redis: RedisLike, options: RedisDedupeOptions = {}): DedupeStore {
  if (redis === null || typeof redis !== 'object' || typeof redis.get !== 'function' || typeof redis.eval !== 'function') {
    throw new TypeError('redisDedupe: pass an ioredis client (needs get and eval)')
  }
  const prefix = options.prefix ?? 'fastify-readiness:delivery:'
  if (typeof prefix !== 'string' || prefix === '') throw new TypeError('redisDedupe.prefix must be a non-empty string')
  const ttlMs = positive('redisDedupe.ttlMs', options.ttlMs, 600_000)
  return {
    async load (session) {
      const value = await redis.get(prefix + session)
      const seq = value === null ? 0 : Number(value)
      return Number.isSafeInteger(seq) && seq > 0 ? seq : 0
    },
    save (session, seq) {
      return redis.eval(RAISE, 1, prefix + session, seq, ttlMs)
    }
  }
}

function positive (name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 2_147_483_647) {
    throw new TypeError(`${name} must be an integer in [1, 2147483647], got ${String(value)}`)
  }
  return value
}
