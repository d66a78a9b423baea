import { ReadinessOptionError } from '../common/errors.js'
import { integerOption } from '../common/options.js'
import { whenIdle } from './progress.js'

/**
 * Where the helper remembers, per client session, the highest message number
 * the app has finished with. A client numbers its messages 1, 2, 3... and the
 * helper handles them in order, so one number per session is the whole dedupe
 * window: anything at or below it was handled and is dropped (and acked again).
 *
 * A message whose handler has started but not finished is *in progress*. In
 * one process the helper itself knows (whatever the store); a store shared by
 * several processes says so with `claim`, so a re-send that lands on another
 * instance waits for that handler's outcome instead of running it again.
 */
export interface DedupeStore {
  /** The highest number handled in this session, 0 when none (or forgotten after the TTL). */
  load: (session: string) => number | Promise<number>
  /** Records that `seq` was handled; never lowers what is stored. With `owner`, also drops that owner's claim. */
  save: (session: string, seq: number, owner?: string) => void | Promise<unknown>
  /**
   * Optional, for a window shared by several processes. Atomically: `handled` when `seq` is at or below the
   * mark; `busy` while another owner's claim on the session stands; otherwise takes the claim for `owner`
   * (renews it, for the same owner) for `claimTtlMs` and answers `claimed`. Without it, a message in progress
   * is known only inside the process that runs it.
   */
  claim?: (session: string, seq: number, owner: string) => ClaimResult | Promise<ClaimResult>
  /**
   * Optional: drops `owner`'s claim on the session (only its own), without recording anything. The helper calls
   * it when a handler overran `handlerTimeoutMs`, so a re-send elsewhere need not wait out `claimTtlMs`.
   */
  release?: (session: string, owner: string) => void | Promise<unknown>
  /**
   * Optional, for `withDelivery({ exclusive: true })` across a fleet: takes (or renews, for the same
   * `incarnation`) the session's live lease for `claimTtlMs`; false while another incarnation holds it.
   */
  lease?: (session: string, incarnation: string) => boolean | Promise<boolean>
  /** Optional: drops the lease if `incarnation` still holds it. */
  unlease?: (session: string, incarnation: string) => void | Promise<unknown>
  /** How long a claim stands unless renewed; the helper renews it every third of this while the handler runs (at most `handlerTimeoutMs`). */
  readonly claimTtlMs?: number
  /**
   * The built-in stores: resolves true once no handler of this process that uses this store is in progress and
   * every window write has landed (false after `timeoutMs`). Await it after the sockets closed and before
   * closing the store's connection (e.g. in an `onClose` hook, before `redis.quit()`): a write cut off there
   * would leave the message to run again after a re-send.
   */
  idle?: (timeoutMs?: number) => Promise<boolean>
}

/** `claimed`: run the handler; `handled`: a duplicate, ack it; `busy`: a handler elsewhere is on it, ask again later. */
export type ClaimResult = 'claimed' | 'handled' | 'busy'

export interface MemoryDedupeOptions {
  /** Forget a session this long after its last message (default 10 min). */
  ttlMs?: number
  /** At most this many sessions; the least recently used go first (default 100,000). */
  maxSessions?: number
}

/**
 * The default: one process's memory, shared by every socket using it. A re-send on another socket of the
 * same process waits for a handler still running on that message (the helper knows what is in progress
 * there). A client that lands on another instance is not covered: use redisDedupe.
 */
export function memoryDedupe (options: MemoryDedupeOptions = {}): DedupeStore {
  const ttlMs = positive('memoryDedupe.ttlMs', options.ttlMs, 600_000)
  const maxSessions = positive('memoryDedupe.maxSessions', options.maxSessions, 100_000)
  // Map order is insertion order; re-inserting on every save keeps it least-recently-used first.
  const sessions = new Map<string, { seq: number, expires: number }>()
  const store: DedupeStore = {
    idle: (timeoutMs) => whenIdle(store, timeoutMs),
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
  return store
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
  /**
   * A handler's claim on a message lasts this long unless renewed (the helper renews it every third of it while
   * the handler runs). If the instance dies mid-handler, a re-send elsewhere waits at most this long, then runs
   * (default 5 s).
   */
  claimTtlMs?: number
}

// Raise-only, with a sliding TTL: two instances racing on one session can never lower the mark. Drops the
// saver's claim (only its own: a claim that expired and was taken over belongs to someone else now).
const SAVE = `local c = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if tonumber(ARGV[1]) > c then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) else redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if ARGV[3] ~= '' and redis.call('GET', KEYS[2]) == ARGV[3] then redis.call('DEL', KEYS[2]) end
return 1`

// One atomic step: handled already, someone else's handler on it, or ours now (SET ... PX, renewed by its owner).
const CLAIM = `local c = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if tonumber(ARGV[1]) <= c then return 'handled' end
local holder = redis.call('GET', KEYS[2])
if holder and holder ~= ARGV[2] then return 'busy' end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return 'claimed'`

// Drops the claim only if `owner` still holds it.
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1`

// The exclusive session's live lease: free or ours, then (re)take it; someone else's, refuse.
const LEASE = `local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`

/**
 * The fleet's window: every instance sharing this Redis knows what any of them handled, and what a handler
 * on any of them is still working on. Two keys per session: `prefix + session` (the mark) and
 * `prefix + session + '!claim'` (the claim); with `exclusive`, `prefix + id + '!live'` (the live lease). Never flushes or scans anything.
 */
export function redisDedupe (redis: RedisLike, options: RedisDedupeOptions = {}): DedupeStore {
  if (redis === null || typeof redis !== 'object' || typeof redis.get !== 'function' || typeof redis.eval !== 'function') {
    throw new ReadinessOptionError('redisDedupe.redis', 'must be an ioredis client (needs get and eval)')
  }
  const prefix = options.prefix ?? 'fastify-readiness:delivery:'
  if (typeof prefix !== 'string' || prefix === '') throw new ReadinessOptionError('redisDedupe.prefix', 'must be a non-empty string')
  const ttlMs = positive('redisDedupe.ttlMs', options.ttlMs, 600_000)
  const claimTtlMs = positive('redisDedupe.claimTtlMs', options.claimTtlMs, 5000)
  if (claimTtlMs < 30) throw new ReadinessOptionError('redisDedupe.claimTtlMs', `must be at least 30 (ms), got ${claimTtlMs}`)
  const store: DedupeStore = {
    claimTtlMs,
    idle: (timeoutMs) => whenIdle(store, timeoutMs),
    async load (session) {
      const value = await redis.get(prefix + session)
      const seq = value === null ? 0 : Number(value)
      return Number.isSafeInteger(seq) && seq > 0 ? seq : 0
    },
    save (session, seq, owner = '') {
      return redis.eval(SAVE, 2, prefix + session, `${prefix}${session}!claim`, seq, ttlMs, owner)
    },
    release (session, owner) {
      return redis.eval(RELEASE, 1, `${prefix}${session}!claim`, owner)
    },
    async lease (session, incarnation) {
      return Number(await redis.eval(LEASE, 1, `${prefix}${session}!live`, incarnation, claimTtlMs)) === 1
    },
    unlease (session, incarnation) {
      return redis.eval(RELEASE, 1, `${prefix}${session}!live`, incarnation)
    },
    async claim (session, seq, owner) {
      const result = await redis.eval(CLAIM, 2, prefix + session, `${prefix}${session}!claim`, seq, owner, claimTtlMs)
      if (result === 'handled' || result === 'busy' || result === 'claimed') return result
      throw new Error(`redisDedupe: unexpected claim reply ${String(result)}`)
    }
  }
  return store
}

/** An integer number of ms (or a count) in [1, 2^31 - 1]: what a timer can wait. */
function positive (path: string, value: number | undefined, fallback: number): number {
  return integerOption(path, value, fallback, 1, 2_147_483_647)
}
