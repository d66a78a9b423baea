import { ReadinessOptionError } from '../common/errors.js'
import { describe, functionOption, integerOption } from '../common/options.js'
import { option, readOptionTable, type ParsedOptions } from '../common/option-spec.js'
import { memoryDedupe, type DedupeStore } from './store.js'
import { whenIdle } from './progress.js'
import { memoryOutbox, type DeliveryOutbox } from './outbox.js'
import type { DeliveryContext, DeliveryOptions } from './types.js'

/** withDelivery's options, one table (its keys are the allow-list; the parsers hold the defaults). */

/** The default window: one per process, shared by every socket that names no store. */
let sharedMemory: DedupeStore | undefined
/** The default outbox, likewise. */
let sharedOutbox: DeliveryOutbox | undefined

function storeOption (path: string, value: unknown): DedupeStore {
  if (value === undefined) return (sharedMemory ??= memoryDedupe())
  const store = value as Partial<DedupeStore> | null
  if (typeof store !== 'object' || store === null || typeof store.load !== 'function' || typeof store.save !== 'function') {
    throw new ReadinessOptionError(path, `must be a dedupe store (load and save: memoryDedupe(), redisDedupe(redis)), got ${describe(value)}`)
  }
  return value as DedupeStore
}

export const DELIVERY_OPTIONS = {
  store: option('The dedupe window (default: the process\'s memory window).', storeOption),
  onError: option('Receives handler, store and protocol errors (with the message\'s ctx, or null).', (path, value) =>
    functionOption<(error: unknown, ctx: DeliveryContext | null) => void>(path, value, false) ?? (() => {})),
  scope: option('Prefixes every session in the window (e.g. the user id).', (_path, value) => value === undefined ? '' : `${String(value)}:`),
  maxQueued: option('Messages waiting behind a slow handler before the socket closes 1013 (default 1000).', (path, value) => integerOption(path, value, 1000, 1)),
  exclusive: option('At most one live client per session id; a second gets close 4409 (default false).', (path, value) => {
    if (value !== undefined && typeof value !== 'boolean') throw new ReadinessOptionError(path, `must be a boolean, got ${describe(value)}`)
    return value === true
  }),
  outbox: option('Where session.send\'s messages wait for the client\'s ack (default: the process\'s memory outbox).', (path, value) => {
    if (value === undefined) return (sharedOutbox ??= memoryOutbox())
    const outbox = value as Partial<DeliveryOutbox> | null
    if (typeof outbox !== 'object' || outbox === null || typeof outbox.append !== 'function' || typeof outbox.resume !== 'function' || typeof outbox.ack !== 'function') {
      throw new ReadinessOptionError(path, `must be an outbox (append, resume, ack: memoryOutbox(), redisOutbox(redis)), got ${describe(value)}`)
    }
    return value as DeliveryOutbox
  }),
  handlerTimeoutMs: option('A handler not settled after this long is given up on (default 30,000 ms).', (path, value) => integerOption(path, value, 30_000, 1, 2_147_483_647))
}

export type DeliverySettings = ParsedOptions<typeof DELIVERY_OPTIONS>

export function readDeliveryOptions (options: DeliveryOptions): DeliverySettings {
  if (typeof options !== 'object' || options === null) throw new ReadinessOptionError('withDelivery', `options must be an object, got ${describe(options)}`)
  return readOptionTable('withDelivery', options as Record<string, unknown>, DELIVERY_OPTIONS, { plugin: false })
}

/**
 * Resolves true once no handler of this process that uses `store` (the default memory window when omitted)
 * is in progress and every window write has landed; false after `timeoutMs`. The same as the built-in
 * stores' `idle()`, for any store.
 */
export function deliveryIdle (store?: DedupeStore, timeoutMs?: number): Promise<boolean> {
  const target = store ?? sharedMemory
  return target === undefined ? Promise.resolve(true) : whenIdle(target, timeoutMs)
}
