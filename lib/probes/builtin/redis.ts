import type { Redis, RedisOptions } from 'ioredis'
import { ReadinessOptionError } from '../../common/errors.js'
import { loadDriver } from './driver.js'
import { refuseRenamed } from './renamed.js'
import { closable, type ClosableCheck } from './closable.js'

/** Anything with `ping()`: an ioredis client, a node-redis client, a cluster. */
export interface PingableClient {
  ping: () => Promise<unknown>
}

export interface RedisProbeOptions {
  /** The probe opens (and closes on app.close()) one connection of its own. Needs the `ioredis` package. */
  url?: string
  /** An ioredis or node-redis client of yours. Never closed by the probe. */
  client?: PingableClient
  /** Connect timeout of the probe's own connection, in ms (default 1000); a hung PING ends at the probe's timeout. */
  timeoutMs?: number
}

/** Passes when `PING` is answered. Reuses its connection; reconnects on the next check after a loss. */
export function redisProbe (options: RedisProbeOptions): ClosableCheck {
  refuseRenamed('redisProbe', options, { timeout: 'timeoutMs' })
  const { url, client, timeoutMs: timeout = 1000 } = options
  if ((url === undefined) === (client === undefined)) throw new ReadinessOptionError('redisProbe', 'needs exactly one of { url } or { client }')
  if (client !== undefined) {
    if (typeof client.ping !== 'function') throw new ReadinessOptionError('redisProbe.client', 'must have a ping() method (an ioredis or node-redis client)')
    return closable('datastore', async () => { await client.ping() })
  }
  if (typeof url !== 'string') throw new ReadinessOptionError('redisProbe.url', 'must be a string')
  const { Redis: IORedis } = loadDriver<{ Redis: new (url: string, options: RedisOptions) => Redis }>('redisProbe', 'ioredis', ', or pass your own ioredis or node-redis client as { client }')
  // One connection, reused while checks pass. After any failure it is
  // dropped and the next check starts a fresh one: ioredis's state after an
  // abort mid-command is not dependable. The probe drives reconnection itself,
  // so a dead Redis costs one connect per probe run and nothing queues offline.
  // No commandTimeout: a hung PING is ended by the probe's abort, and ioredis
  // would leave that timer running past app.close().
  const create = (): Redis => {
    const client = new IORedis(url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      enableReadyCheck: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      connectTimeout: timeout,
      // After disconnect() ioredis waits this long for the peer to close
      // before destroying the socket (2 s by default): a hung Redis never does.
      disconnectTimeout: 50,
      connectionName: 'fastify-readiness-probe'
    })
    client.on('error', () => {})
    return client
  }
  let own = create()
  let ended = false
  const drop = (client: Redis): void => {
    if (own === client) own = create()
    client.disconnect()
  }
  return closable('datastore', async (signal) => {
    if (ended) throw new Error('redis probe closed')
    const client = own
    const onAbort = (): void => drop(client)
    signal.addEventListener('abort', onAbort, { once: true })
    try {
      if (client.status === 'wait') await client.connect()
      await client.ping()
    } catch (err) {
      drop(client)
      throw err
    } finally {
      signal.removeEventListener('abort', onAbort)
    }
  }, async () => {
    ended = true
    own.disconnect()
  })
}
