import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import websocket from '@fastify/websocket'
import type { Test } from 'tap'
import readiness, { type FastifyReadinessOptions } from '../../index.js'

/** A real app with @fastify/websocket and the whole suite, closed when the test ends. */
export async function buildApp (t: Test, options: FastifyReadinessOptions, fastifyOptions: FastifyServerOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({ logger: false, ...fastifyOptions })
  t.teardown(() => app.close())
  await app.register(websocket)
  await app.register(readiness, options)
  return app
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
