import Fastify from 'fastify'
import { expect, test } from 'tstyche'
import {
  readinessHealth, readinessMetrics, readinessProbes, readinessShutdown, readinessStartup, readinessStatusPage,
  bearerToken, postgresProbe, redisProbe
} from '../../index.js'

const app = Fastify()

test('probes: ...Ms options', () => {
  expect(app.register(readinessProbes, { probes: { db: { check: async () => {}, timeoutMs: 1000, intervalMs: 2000, startIntervalMs: 50, critical: false, failureThreshold: 2, successThreshold: 1 } } })).type.not.toRaiseError()
  expect(app.register(readinessProbes, { probes: { db: { check: async () => {}, timeout: 1000 } } })).type.toRaiseError()
  expect(app.register(readinessProbes, { probes: { db: { check: async () => {}, interval: 1000 } } })).type.toRaiseError()
  expect(app.register(readinessProbes, { probes: { db: { check: async () => {}, startInterval: 50 } } })).type.toRaiseError()
  expect(redisProbe({ url: 'redis://localhost', timeoutMs: 500 })).type.not.toRaiseError()
  expect(redisProbe({ url: 'redis://localhost', timeout: 500 })).type.toRaiseError()
  expect(postgresProbe({ connectionString: 'postgres://localhost/db', statementTimeoutMs: 500 })).type.not.toRaiseError()
  expect(postgresProbe({ connectionString: 'postgres://localhost/db', statementTimeout: 500 })).type.toRaiseError()
})

test('startup: phases and the plugin take ...Ms options', () => {
  expect(app.register(readinessStartup, {
    phases: { warm: { run: async () => {}, timeoutMs: 5000, expectedMs: 1000 } },
    mode: 'blocking',
    timeoutMs: 10_000,
    margin: 0.5,
    environment: 'production',
    startupProbe: { periodSeconds: 10, failureThreshold: 30 },
    failedLivenessGraceMs: 30_000
  })).type.not.toRaiseError()
  expect(app.register(readinessStartup, { failedLivenessGraceMs: false })).type.not.toRaiseError()
  expect(app.register(readinessStartup, { timeout: 10_000 })).type.toRaiseError()
  expect(app.register(readinessStartup, { failedLivenessGrace: 1000 })).type.toRaiseError()
  expect(app.register(readinessStartup, { phases: { warm: { run: async () => {}, timeout: 5000 } } })).type.toRaiseError()
  expect(app.register(readinessStartup, { phases: { warm: { run: async () => {}, expected: 5000 } } })).type.toRaiseError()
  expect(app.register(readinessStartup, { mode: 'eager' })).type.toRaiseError()
})

test('shutdown: delayMs, timeoutMs and the Kubernetes gracePeriodSeconds', () => {
  expect(app.register(readinessShutdown, { signals: ['SIGTERM'], delayMs: 5000, timeoutMs: 27_000, gracePeriodSeconds: 30 })).type.not.toRaiseError()
  expect(app.register(readinessShutdown, { signals: false })).type.not.toRaiseError()
  expect(app.register(readinessShutdown, { delay: 5000 })).type.toRaiseError()
  expect(app.register(readinessShutdown, { timeout: 5000 })).type.toRaiseError()
  expect(app.register(readinessShutdown, { signals: ['SIGKILL'] })).type.toRaiseError()
})

test('health', () => {
  expect(app.register(readinessHealth, {
    prefix: '/health',
    details: bearerToken('secret'),
    exposeNames: true,
    format: 'health+json',
    groups: { chat: ['redis'], core: { include: ['db'], exclude: ['pressure'], details: 'always', additionalPath: '/readyz/core' } },
    additionalPaths: { live: '/livez', ready: '/readyz' },
    info: { version: '1.0.0' },
    cors: ['https://chat.example.com']
  })).type.not.toRaiseError()
  expect(app.register(readinessHealth, { format: 'xml' })).type.toRaiseError()
  expect(app.register(readinessHealth, { additionalPaths: { metrics: '/m' } })).type.toRaiseError()
})

test('status page: refreshIntervalMs', () => {
  expect(app.register(readinessStatusPage, { path: '/status', details: 'always', refreshIntervalMs: 1000 })).type.not.toRaiseError()
  expect(app.register(readinessStatusPage, { refreshInterval: 1000 })).type.toRaiseError()
})

test('metrics', () => {
  expect(app.register(readinessMetrics, {})).type.not.toRaiseError()
  expect(app.register(readinessMetrics, { meterProvider: 'otel' })).type.toRaiseError()
})
