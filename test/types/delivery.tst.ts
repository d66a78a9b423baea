import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import { Redis } from 'ioredis'
import { expect, test } from 'tstyche'
import {
  deliveryIdle, DeliveryFrameError, DeliveryTimeoutError, memoryDedupe, redisDedupe, withDelivery,
  type ClaimResult, type DedupeStore, type DeliveryContext, type DeliveryHandler, type DeliveryOptions, type DeliverySocket,
  type DeliveryStats, type MemoryDedupeOptions, type RedisDedupeOptions, type RedisLike
} from '../../index.js'
import { memoryOutbox, redisOutbox, type DeliveryOutbox, type DeliverySession } from '../../lib/delivery/index.js'

const app = Fastify()
await app.register(websocket)

test('withDelivery takes a @fastify/websocket socket, as docs/client.md shows', () => {
  app.get('/chat', { websocket: true }, (socket) => {
    expect(withDelivery(socket, async (data, ctx) => {
      expect(data).type.toBe<string | Buffer>()
      expect(ctx).type.toBe<DeliveryContext | null>()
    })).type.toBe<DeliverySession>()
    expect(withDelivery(socket, () => {}, { store: memoryDedupe() })).type.not.toRaiseError()
  })
})

test('the handler context', () => {
  expect<DeliveryContext>().type.toBe<{ session: string, seq: number, incarnation: string }>()
  expect<DeliveryHandler>().type.toBe<(data: string | Buffer, ctx: DeliveryContext | null) => void | Promise<void>>()
  const socket = {} as DeliverySocket
  expect(withDelivery(socket, (_data: number) => {})).type.toRaiseError()
  expect(withDelivery(socket, async () => 42)).type.toRaiseError()
  expect(withDelivery(socket)).type.toRaiseError()
})

test('every option, with its type (times in ms)', () => {
  const socket = {} as DeliverySocket
  const options: DeliveryOptions = {
    store: memoryDedupe(),
    onError: (error, ctx) => {
      expect(error).type.toBe<unknown>()
      expect(ctx).type.toBe<DeliveryContext | null>()
    },
    scope: 'user-1',
    maxQueued: 1000,
    handlerTimeoutMs: 30_000
  }
  expect(withDelivery(socket, () => {}, options)).type.not.toRaiseError()
  expect(withDelivery(socket, () => {}, { handlerTimeoutMs: '30s' })).type.toRaiseError()
  expect(withDelivery(socket, () => {}, { handlerTimeout: 30_000 })).type.toRaiseError()
  expect(withDelivery(socket, () => {}, { store: {} })).type.toRaiseError()
  expect(withDelivery(socket, () => {}, { onError: 'log' })).type.toRaiseError()
})

test('the stats', () => {
  expect<DeliveryStats>().type.toBe<{ handled: number, duplicates: number, passthrough: number, waited: number }>()
})

test('the stores', () => {
  expect(memoryDedupe()).type.toBe<DedupeStore>()
  expect(memoryDedupe({ ttlMs: 600_000, maxSessions: 100_000 })).type.toBe<DedupeStore>()
  expect<MemoryDedupeOptions>().type.toBe<{ ttlMs?: number, maxSessions?: number }>()
  expect(memoryDedupe({ ttl: 600 })).type.toRaiseError()
  const redis = new Redis({ lazyConnect: true })
  expect(redisDedupe(redis)).type.toBe<DedupeStore>()
  expect(redisDedupe(redis, { prefix: 'chat:delivery:', ttlMs: 600_000, claimTtlMs: 5000 })).type.toBe<DedupeStore>()
  expect<RedisDedupeOptions>().type.toBe<{ prefix?: string, ttlMs?: number, claimTtlMs?: number }>()
  expect<Redis>().type.toBeAssignableTo<RedisLike>()
  expect(redisDedupe({ get: async () => null })).type.toRaiseError()
  expect(redisDedupe(redis, { claimTtl: 5 })).type.toRaiseError()
})

test('a store of one\'s own', () => {
  const store: DedupeStore = { load: () => 0, save: () => {} }
  expect(withDelivery({} as DeliverySocket, () => {}, { store })).type.not.toRaiseError()
  const shared: DedupeStore = {
    load: async () => 0,
    save: async () => 'OK',
    claim: async (): Promise<ClaimResult> => 'claimed',
    release: async () => {},
    claimTtlMs: 5000
  }
  expect(shared.claim).type.toBe<((session: string, seq: number, owner: string) => ClaimResult | Promise<ClaimResult>) | undefined>()
  expect<ClaimResult>().type.toBe<'claimed' | 'handled' | 'busy'>()
  expect(shared.idle).type.toBe<((timeoutMs?: number) => Promise<boolean>) | undefined>()
  expect(withDelivery({} as DeliverySocket, () => {}, { store: { load: () => 'none', save: () => {} } })).type.toRaiseError()
})

test('idle and the errors', () => {
  expect(deliveryIdle()).type.toBe<Promise<boolean>>()
  expect(deliveryIdle(memoryDedupe(), 5000)).type.toBe<Promise<boolean>>()
  const timeout = new DeliveryTimeoutError({ session: 'abcdefgh', seq: 1, incarnation: '' }, 30_000)
  expect(timeout).type.toBeAssignableTo<Error>()
  expect(timeout.ctx).type.toBe<DeliveryContext>()
  expect(timeout.code).type.toBe<'FST_READINESS_DELIVERY_TIMEOUT'>()
  const frame = new DeliveryFrameError('"x"')
  expect(frame.code).type.toBe<'FST_READINESS_DELIVERY_FRAME'>()
})

test('server to client: send, the outboxes, exclusive', () => {
  const socket = {} as DeliverySocket
  const session = withDelivery(socket, () => {}, { outbox: memoryOutbox({ maxMessages: 1000, maxAgeMs: 600_000 }), exclusive: true })
  expect(session).type.toBeAssignableTo<DeliveryStats>()
  expect(session.send).type.toBe<(data: string) => void>()
  expect(session.send(new Uint8Array(1))).type.toRaiseError()
  expect(redisOutbox(new Redis({ lazyConnect: true }), { prefix: 'chat:outbox:', maxMessages: 100, maxAgeMs: 60_000 })).type.toBe<DeliveryOutbox>()
  expect(memoryOutbox({ maxAge: 5 })).type.toRaiseError()
  expect(withDelivery(socket, () => {}, { exclusive: 'yes' })).type.toRaiseError()
})
