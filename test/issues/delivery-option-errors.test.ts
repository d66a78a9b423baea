import t, { type Test } from 'tap'
import { withDelivery, memoryDedupe, redisDedupe, ReadinessOptionError, type DeliverySocket } from '../../index.js'

/**
 * Issue 23: the delivery helper's bad options fail like every other option of the suite: a
 * ReadinessOptionError (code FST_READINESS_INVALID_OPTION) naming the option path, not a bare TypeError.
 */

const fake: DeliverySocket = { readyState: 1, send: () => {}, on: () => fake }

function refused (t: Test, fn: () => unknown, option: string): void {
  try {
    fn()
    t.fail(`${option}: did not throw`)
  } catch (err) {
    t.ok(err instanceof ReadinessOptionError, `${option}: ${String(err)}`)
    t.equal((err as ReadinessOptionError).code, 'FST_READINESS_INVALID_OPTION')
    t.equal((err as ReadinessOptionError).option, option)
  }
}

t.test('withDelivery names the option it refuses', async (t) => {
  refused(t, () => withDelivery(fake, 'handler' as never), 'withDelivery.handler')
  refused(t, () => withDelivery(fake, () => {}, { handlerTimeoutMs: 0 }), 'withDelivery.handlerTimeoutMs')
  refused(t, () => withDelivery(fake, () => {}, { handlerTimeoutMs: 1.5 }), 'withDelivery.handlerTimeoutMs')
  refused(t, () => withDelivery(fake, () => {}, { maxQueued: 0 }), 'withDelivery.maxQueued')
  refused(t, () => withDelivery(fake, () => {}, { onError: 'log' as never }), 'withDelivery.onError')
  refused(t, () => withDelivery(fake, () => {}, { store: {} as never }), 'withDelivery.store')
  // A typo is not silently ignored (the default would apply without a word).
  refused(t, () => withDelivery(fake, () => {}, { handlerTimeout: 5000 } as never), 'withDelivery.handlerTimeout')
})

t.test('the stores name the option they refuse', async (t) => {
  refused(t, () => memoryDedupe({ ttlMs: 0 }), 'memoryDedupe.ttlMs')
  refused(t, () => memoryDedupe({ maxSessions: -1 }), 'memoryDedupe.maxSessions')
  const redis = { get: async () => null, eval: async () => 1 }
  refused(t, () => redisDedupe({} as never), 'redisDedupe.redis')
  refused(t, () => redisDedupe(redis, { prefix: '' }), 'redisDedupe.prefix')
  refused(t, () => redisDedupe(redis, { ttlMs: Infinity }), 'redisDedupe.ttlMs')
  refused(t, () => redisDedupe(redis, { claimTtlMs: 10 }), 'redisDedupe.claimTtlMs')
})
