import type { FastifyInstance } from 'fastify'

type PreClose = (this: FastifyInstance) => Promise<void>

/**
 * Adds a preClose hook that runs before every preClose hook already on this
 * instance. @fastify/websocket's own preClose (registered earlier, since the
 * gate depends on it) closes every socket with no close code, which clients
 * read as 1005; the drain must come first to send 1012/1001 after readiness
 * has turned. Fastify has no public "prepend hook", so the hook is added the
 * public way and then moved to the front of the instance's preClose list.
 * Returns false when that list could not be found (a Fastify internals change).
 */
export function addFirstPreClose (fastify: FastifyInstance, hook: PreClose): boolean {
  fastify.addHook('preClose', hook)
  const symbol = Object.getOwnPropertySymbols(fastify).find((s) => s.description === 'fastify.hooks')
  const hooks = symbol === undefined ? undefined : (fastify as unknown as Record<symbol, { preClose?: unknown[] }>)[symbol]
  const list = hooks?.preClose
  if (!Array.isArray(list)) return false
  const index = list.indexOf(hook)
  if (index < 0) return false
  list.splice(index, 1)
  list.unshift(hook)
  return true
}
