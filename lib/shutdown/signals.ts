import type { ReadinessLogger } from '../core/readiness.js'

export type Signal = 'SIGHUP' | 'SIGINT' | 'SIGQUIT' | 'SIGILL' | 'SIGTRAP' | 'SIGABRT' | 'SIGBUS' | 'SIGFPE' | 'SIGSEGV' | 'SIGUSR2' | 'SIGTERM'

/** The signals close-with-grace listens to, and so may be named in `shutdown.signals`. */
export const SIGNALS: readonly Signal[] = ['SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGILL', 'SIGTRAP', 'SIGABRT', 'SIGBUS', 'SIGFPE', 'SIGSEGV', 'SIGUSR2', 'SIGTERM']

/**
 * The same signal again within this window is one signal delivered twice, not a person pressing
 * Ctrl-C again: under `npm start` the terminal signals the whole process group and npm forwards the
 * signal to its child as well (systemd's control-group kill does the same), so node gets two within a
 * millisecond. close-with-grace, whose convention this follows otherwise, exits on that second one.
 */
export const DUPLICATE_SIGNAL_MS = 100

export interface SignalSubscriber {
  run: (signal: Signal) => Promise<void>
  log: ReadinessLogger
}

/**
 * One listener per signal for the whole process, shared by every app in it that
 * asked for that signal: a test file that builds 200 apps (or a process hosting
 * several) adds one listener per signal, not 200, and a signal's listener goes
 * when the last app that asked for it closes. As close-with-grace does: the first
 * signal runs the sequence of every app that asked for it and exits 0 when all
 * finished (1 when one failed or timed out), and a second signal exits 1 at once.
 * One process-wide state, so that an app that finishes first cannot exit the
 * process under another app still draining.
 */
const subscribers = new Map<SignalSubscriber, readonly Signal[]>()
const listening = new Set<Signal>()
let first: { signal: Signal, at: number } | null = null

export function onShutdownSignal (signals: readonly Signal[], subscriber: SignalSubscriber): () => void {
  subscribers.set(subscriber, signals)
  for (const signal of signals) {
    if (listening.has(signal)) continue
    listening.add(signal)
    process.on(signal, onSignal)
  }
  return () => {
    subscribers.delete(subscriber)
    // Once a signal has been received the listeners stay: they are what makes a second signal exit at once.
    if (first !== null) return
    const wanted = new Set([...subscribers.values()].flat())
    for (const signal of listening) {
      if (wanted.has(signal)) continue
      listening.delete(signal)
      process.removeListener(signal, onSignal)
    }
  }
}

function onSignal (signal: Signal): void {
  if (first === null) {
    first = { signal, at: performance.now() }
    void runAll(signal, [...subscribers].filter(([, signals]) => signals.includes(signal)).map(([s]) => s))
    return
  }
  if (signal === first.signal && performance.now() - first.at < DUPLICATE_SIGNAL_MS) return
  for (const s of subscribers.keys()) s.log.error({ signal }, `second ${signal} during shutdown: exiting at once`)
  process.exit(1)
}

async function runAll (signal: Signal, running: SignalSubscriber[]): Promise<void> {
  const others = [...subscribers.keys()].filter((s) => !running.includes(s))
  const results = await Promise.allSettled(running.map(async (s) => {
    s.log.info({ signal }, `${signal} received: shutting down`)
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
  // Another app of this process did not ask for this signal (or handles signals itself): exiting would cut
  // its connections. A failure still exits, before the platform's SIGKILL.
  const open = others.filter((s) => subscribers.has(s))
  if (!failed && open.length > 0) {
    for (const s of running) s.log.info({ signal, otherApps: open.length }, `${signal} handled: another app in this process is still open, so the process is left to it`)
    first = null // the next signal is the first one for the apps left
    return
  }
  process.exit(failed ? 1 : 0)
}

/** The other listeners of these signals: a runner's (close-with-grace, fastify-cli) or the app's own. */
export function otherSignalListeners (signals: readonly Signal[]): Array<{ signal: Signal, name: string }> {
  const others: Array<{ signal: Signal, name: string }> = []
  for (const signal of signals) {
    for (const listener of process.listeners(signal)) if (listener !== onSignal) others.push({ signal, name: listener.name === '' ? 'anonymous' : listener.name })
  }
  return others
}
