import closeWithGrace from 'close-with-grace'
import type { ReadinessLogger } from './readiness.js'

export type Signal = closeWithGrace.Signals

/** Every signal close-with-grace can listen to. */
export const SIGNALS: readonly Signal[] = ['SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGILL', 'SIGTRAP', 'SIGABRT', 'SIGBUS', 'SIGFPE', 'SIGSEGV', 'SIGUSR2', 'SIGTERM']
/** close-with-grace also closes on errors and on beforeExit; a library has no business deciding those. */
const NOT_OURS = ['uncaughtException', 'unhandledRejection', 'beforeExit'] as const

export interface SignalSubscriber {
  run: (signal: Signal | undefined) => Promise<void>
  log: ReadinessLogger
}

interface Installation {
  handlers: { uninstall: () => void }
  subscribers: Set<SignalSubscriber>
}

/**
 * One close-with-grace installation per set of signals, shared by every app
 * of the process that asked for that set: a test file that builds 200 apps
 * (or a process hosting several) adds one listener per signal, not 200, and
 * the listeners go when the last of those apps closes. The first signal runs
 * every subscriber's sequence and exits 0 when all finished (1 when one
 * failed or timed out); a second signal exits 1 at once.
 */
const installations = new Map<string, Installation>()

export function onShutdownSignal (signals: readonly Signal[], subscriber: SignalSubscriber): () => void {
  const key = [...signals].sort().join(',')
  let installation = installations.get(key)
  if (installation === undefined) {
    const subscribers = new Set<SignalSubscriber>()
    const handlers = closeWithGrace({
      // Each sequence is bounded by its own shutdown.timeout, which logs what was still open.
      delay: false,
      logger: false,
      skip: [...SIGNALS.filter((s) => !signals.includes(s)), ...NOT_OURS],
      onSecondSignal: (signal) => {
        for (const s of subscribers) s.log.error({ signal }, `second ${signal} during shutdown: exiting at once`)
      }
    }, async ({ signal }) => {
      const running = [...subscribers]
      const results = await Promise.allSettled(running.map(async (s) => {
        s.log.info({ signal }, `${signal ?? 'signal'} received: shutting down`)
        await s.run(signal)
      }))
      let failed = false
      results.forEach((result, i) => {
        if (result.status === 'rejected') {
          failed = true
          // A timeout has been logged by the sequence itself, with what was still open.
          if ((result.reason as Error)?.name !== 'ShutdownTimeoutError') running[i]?.log.error({ err: result.reason as Error }, 'shutdown failed')
        }
      })
      if (failed) throw new Error('shutdown failed')
    })
    installation = { handlers, subscribers }
    installations.set(key, installation)
  }
  const { subscribers } = installation
  subscribers.add(subscriber)
  return () => {
    subscribers.delete(subscriber)
    // Once a signal has been received, close-with-grace has swapped in its second-signal handlers; those stay.
    if (subscribers.size === 0 && installations.get(key) === installation) {
      installations.delete(key)
      installation.handlers.uninstall()
    }
  }
}
