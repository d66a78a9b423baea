import type { Pool, PoolConfig } from 'pg'
import { ReadinessOptionError } from '../../common/errors.js'
import { loadDriver } from './driver.js'
import { refuseRenamed } from './renamed.js'
import { closable, type ClosableCheck } from './closable.js'

/** What the probe needs of a node-postgres Pool or Client (kept structural so users need no @types/pg). */
export interface Queryable {
  query: (config: { text: string, query_timeout?: number }) => Promise<unknown>
}

export interface PostgresProbeOptions {
  /** The probe opens (and closes on app.close()) one connection of its own. Needs the `pg` package. */
  connectionString?: string
  /** A node-postgres Pool of yours: each check borrows a client. Never ended by the probe. */
  pool?: Queryable
  /** A connected node-postgres Client of yours. Never ended by the probe. */
  client?: Queryable
  /** Server-side statement timeout and client-side query timeout, in ms (default 1000). */
  statementTimeoutMs?: number
}

/** Passes when `SELECT 1` succeeds. Reuses one connection instead of opening one per check. */
export function postgresProbe (options: PostgresProbeOptions): ClosableCheck {
  refuseRenamed('postgresProbe', options, { statementTimeout: 'statementTimeoutMs' })
  const { connectionString, pool, client, statementTimeoutMs: statementTimeout = 1000 } = options
  const given = [connectionString, pool, client].filter((v) => v !== undefined).length
  if (given !== 1) throw new ReadinessOptionError('postgresProbe', 'needs exactly one of { connectionString }, { pool } or { client }')
  const query = { text: 'SELECT 1', query_timeout: statementTimeout }
  if (pool !== undefined) return closable('datastore', async () => { await pool.query(query) })
  if (client !== undefined) return closable('datastore', async () => { await client.query(query) })
  if (typeof connectionString !== 'string') throw new ReadinessOptionError('postgresProbe.connectionString', 'must be a string')

  const pg = loadDriver<{ Pool: new (config: PoolConfig) => Pool }>('postgresProbe', 'pg', ', or pass your own client as { pool } or { client }')
  // One connection, recreated by the pool if the server drops it.
  const own = new pg.Pool({
    connectionString,
    max: 1,
    statement_timeout: statementTimeout,
    query_timeout: statementTimeout,
    connectionTimeoutMillis: statementTimeout,
    allowExitOnIdle: true
  })
  // An idle connection the server kills emits here; the next check reconnects.
  own.on('error', () => {})
  let ended = false
  return closable('datastore', async () => {
    if (ended) throw new Error('postgres probe closed')
    await own.query(query)
  }, async () => {
    ended = true
    await own.end()
  })
}
