import { ReadinessOptionError } from '../common/errors.js'
import { integerOption } from '../common/options.js'
import type { RedisLike } from './store.js'

/**
 * Server-to-client delivery: what a session incarnation was sent and has not acknowledged, kept so a
 * client that reconnects (here or, with Redis, on any instance) gets it replayed. Bounded by length and
 * by age; what falls out before it was acknowledged makes a later resume say so (a gap), never skip it.
 */
export interface DeliveryOutbox {
  /**
   * Numbers `payload` for `key` (1, 2, 3...) and keeps it; resolves its number, above `after` (what the socket
   * sent or the client has) even when the outbox lost its count (a store restarted empty), so the client never
   * takes a new message for a repeat.
   */
  append: (key: string, payload: string, after?: number) => number | Promise<number>
  /**
   * What follows `after` for `key`, in order, and the gap before it when some of it is gone (`to` null: the
   * outbox does not know the key, e.g. it expired or lives on another instance's memory). Numbering then
   * continues above `after`, so a client never takes a new message for a repeat.
   */
  resume: (key: string, after: number) => Resume | Promise<Resume>
  /** The client has everything up to `seq`: drop it. */
  ack: (key: string, seq: number) => void | Promise<unknown>
  /**
   * Optional: the highest number taken for `key` (0 when unknown), read without side effects. Asked once per
   * client live-peer ping, so a socket that sends nothing still delivers replies another instance put in a
   * shared outbox (a handler still streaming there). Without it they wait for this socket's next send or the
   * client's next resume.
   */
  last?: (key: string) => number | Promise<number>
}

export interface Resume { entries: Array<{ seq: number, payload: string }>, gap: { from: number, to: number | null } | null }

export interface OutboxBounds {
  /** At most this many unacknowledged messages per incarnation (default 1,000). */
  maxMessages?: number
  /** An unacknowledged message is kept at most this long (default 10 min); also the key's idle TTL. */
  maxAgeMs?: number
}

function bounds (name: string, options: OutboxBounds): { maxMessages: number, maxAgeMs: number } {
  if (typeof options !== 'object' || options === null) throw new ReadinessOptionError(name, 'options must be an object')
  return {
    maxMessages: integerOption(`${name}.maxMessages`, options.maxMessages, 1000, 1, 1_000_000),
    maxAgeMs: integerOption(`${name}.maxAgeMs`, options.maxAgeMs, 600_000, 1, 2_147_483_647)
  }
}

/** A gap when the first kept entry does not follow `after` (or nothing is kept but more was sent). */
function gapOf (after: number, entries: Resume['entries'], last: number): Resume['gap'] {
  const first = entries.length > 0 ? entries[0].seq : last + 1
  return first > after + 1 ? { from: after + 1, to: first - 1 } : null
}

/** One process's memory: a client that reconnects to this instance resumes; on another, it is told it cannot. */
export function memoryOutbox (options: OutboxBounds = {}): DeliveryOutbox {
  const { maxMessages, maxAgeMs } = bounds('memoryOutbox', options)
  const keys = new Map<string, { last: number, entries: Array<{ seq: number, payload: string, at: number }>, expires: number }>()
  const sweep = (now: number): void => {
    for (const [key, entry] of keys) { if (entry.expires <= now) keys.delete(key); else break }
  }
  const touch = (key: string, now: number) => {
    let entry = keys.get(key)
    if (entry !== undefined && entry.expires <= now) { keys.delete(key); entry = undefined }
    if (entry !== undefined) keys.delete(key) // re-inserted: the map stays least recently used first
    entry ??= { last: 0, entries: [], expires: 0 }
    entry.expires = now + maxAgeMs
    keys.set(key, entry)
    return entry
  }
  return {
    append (key, payload, after = 0) {
      const now = Date.now()
      sweep(now)
      const entry = touch(key, now)
      if (entry.last < after) entry.last = after
      entry.entries.push({ seq: ++entry.last, payload, at: now })
      if (entry.entries.length > maxMessages) entry.entries.splice(0, entry.entries.length - maxMessages)
      return entry.last
    },
    resume (key, after) {
      const now = Date.now()
      const known = keys.get(key)
      const entry = touch(key, now)
      if (known === undefined || known.expires <= now) {
        entry.last = Math.max(entry.last, after)
        return { entries: [], gap: after > 0 ? { from: after + 1, to: null } : null }
      }
      while (entry.entries.length > 0 && entry.entries[0].at <= now - maxAgeMs) entry.entries.shift()
      if (entry.last < after) entry.last = after
      const entries = entry.entries.filter((e) => e.seq > after).map(({ seq, payload }) => ({ seq, payload }))
      return { entries, gap: gapOf(after, entries, entry.last) }
    },
    ack (key, seq) {
      const entry = keys.get(key)
      if (entry === undefined) return
      let n = 0
      while (n < entry.entries.length && entry.entries[n].seq <= seq) n++
      if (n > 0) entry.entries.splice(0, n)
    },
    last (key) {
      const entry = keys.get(key)
      return entry === undefined || entry.expires <= Date.now() ? 0 : entry.last
    }
  }
}

export interface RedisOutboxOptions extends OutboxBounds {
  /** Key prefix (default `fastify-readiness:outbox:`). */
  prefix?: string
}

// Numbered by a counter (above what the socket sent: a Redis restarted empty starts it at 0 again), kept in a
// stream trimmed by length (MAXLEN) and age (MINID on the time-based id).
const APPEND = `local seq = redis.call('INCR', KEYS[2])
local after = tonumber(ARGV[4])
if seq <= after then seq = after + 1 redis.call('SET', KEYS[2], seq) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[2], '*', 's', seq, 'd', ARGV[1])
redis.call('XTRIM', KEYS[1], 'MINID', tostring(now - tonumber(ARGV[3])))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return seq`

// Unknown key: numbering continues above what the client has. Known: the kept entries, after an age trim.
const RESUME = `local last = redis.call('GET', KEYS[2])
if not last then
  if tonumber(ARGV[1]) > 0 then redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2]) end
  return {-1}
end
if tonumber(last) < tonumber(ARGV[1]) then redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2]) last = ARGV[1] end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('XTRIM', KEYS[1], 'MINID', tostring(now - tonumber(ARGV[2])))
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return {tonumber(last), redis.call('XRANGE', KEYS[1], '-', '+')}`

// Drops the acknowledged head of the stream.
const ACK = `local entries = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1000)
for _, e in ipairs(entries) do
  if tonumber(e[2][2]) <= tonumber(ARGV[1]) then redis.call('XDEL', KEYS[1], e[1]) else break end
end
return 1`

// The counter: the last number taken (nil when unknown), for a client that offers only eval.
const LAST = 'return redis.call(\'GET\', KEYS[1])'

/**
 * The fleet's outbox, in Redis Streams: `prefix + key + '!out'` (the stream) and `prefix + key + '!out#'`
 * (the counter), both expiring `maxAgeMs` after the last message. Whichever instance the client resumes on
 * replays what it has not acknowledged.
 */
export function redisOutbox (redis: RedisLike, options: RedisOutboxOptions = {}): DeliveryOutbox {
  if (redis === null || typeof redis !== 'object' || typeof redis.eval !== 'function') throw new ReadinessOptionError('redisOutbox.redis', 'must be an ioredis client (needs eval)')
  const { maxMessages, maxAgeMs } = bounds('redisOutbox', options)
  const prefix = options.prefix ?? 'fastify-readiness:outbox:'
  if (typeof prefix !== 'string' || prefix === '') throw new ReadinessOptionError('redisOutbox.prefix', 'must be a non-empty string')
  return {
    async append (key, payload, after = 0) {
      return Number(await redis.eval(APPEND, 2, `${prefix}${key}!out`, `${prefix}${key}!out#`, payload, maxMessages, maxAgeMs, after))
    },
    async resume (key, after) {
      const reply = await redis.eval(RESUME, 2, `${prefix}${key}!out`, `${prefix}${key}!out#`, after, maxAgeMs) as [number, Array<[string, string[]]>?]
      if (reply[0] === -1) return { entries: [], gap: after > 0 ? { from: after + 1, to: null } : null }
      const entries = (reply[1] ?? []).map(([, fields]) => ({ seq: Number(fields[1]), payload: String(fields[3]) })).filter((e) => e.seq > after)
      return { entries, gap: gapOf(after, entries, Number(reply[0])) }
    },
    ack (key, seq) {
      return redis.eval(ACK, 1, `${prefix}${key}!out`, seq)
    },
    async last (key) {
      const counter = `${prefix}${key}!out#`
      // GET when the client has it (no script to send and hash per ping); eval is all the outbox requires.
      return Number((typeof redis.get === 'function' ? await redis.get(counter) : await redis.eval(LAST, 1, counter)) ?? 0)
    }
  }
}
