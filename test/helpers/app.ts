import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import websocket from '@fastify/websocket'
import type { Test } from 'tap'
import readiness, { type FastifyReadinessOptions } from '../../index.js'

/**
 * A real app with the whole suite and @fastify/websocket, closed when the test ends. The suite comes
 * first, as the README shows: its drain then runs before @fastify/websocket's own preClose.
 */
export async function buildApp (t: Test, options: FastifyReadinessOptions, fastifyOptions: FastifyServerOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({ logger: false, ...fastifyOptions })
  t.teardown(() => app.close())
  await app.register(readiness, options)
  await app.register(websocket)
  return app
}

/**
 * A real app with the suite alone: no gate, no signal handlers, no metrics, closed when the test ends.
 * For tests of probes, phases, health routes and redaction, which need none of those.
 */
export async function suiteOnly (t: Test, options: FastifyReadinessOptions, fastifyOptions: FastifyServerOptions = {}): Promise<FastifyInstance> {
  const app = Fastify(fastifyOptions)
  t.teardown(() => app.close())
  await app.register(readiness, { shutdown: false, metrics: false, websocket: false, ...options })
  return app
}

/** What registering the suite with these options fails with (at register() or ready()), or null when it works. */
export async function registrationError (options: unknown, { withWebSocket = false } = {}): Promise<unknown> {
  const app = Fastify()
  try {
    if (withWebSocket) await app.register(websocket)
    await app.register(readiness, options as FastifyReadinessOptions)
    await app.ready()
    return null
  } catch (err) {
    return err
  } finally {
    await app.close().catch(() => {})
  }
}

/** A dependency the test switches up and down; its probe fails with a message holding a password. */
export class Switch {
  up: boolean
  calls = 0
  constructor (up = false) { this.up = up }
  readonly check = async (): Promise<void> => {
    this.calls++
    if (!this.up) throw new Error('connect ECONNREFUSED postgres://app:hunter2@10.0.0.5/chat password=hunter2')
  }
}
