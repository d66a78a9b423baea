import type { ReadinessLogger } from '../core/api.js'
import { ShutdownTimeoutError, type ShutdownStage } from '../common/errors.js'

/** What the sequence drives; the plugin supplies these from the app and its readiness state. */
export interface ShutdownSteps {
  /** Step 1: readiness turns 503 (health routes keep answering; everything else keeps serving). */
  startDraining: () => void
  /** True while startup phases are still running: nothing routes here yet, so no delay, and the phases are aborted. */
  startupRunning: () => boolean
  /** Aborts the phases under way at once. */
  abortStartup: () => void
  /** Step 3a: held upgrades 503, open sockets 1012/1001, new upgrades 503 (the gate's bounded drain). */
  closeConnections: () => Promise<void>
  /** Step 3b: the server closes: in-flight requests finish, idle keep-alive connections are closed. */
  close: () => Promise<void>
  /** What is still open, for the log line when the timeout is hit. */
  openWork: () => Record<string, unknown>
}

// The error lives with the others (lib/common/errors.ts); re-exported where it was.
export { ShutdownTimeoutError, type ShutdownStage } from '../common/errors.js'

/**
 * The shutdown sequence, once: readiness 503 at once, serve for `delay` ms
 * (load balancers and kube-proxy are still sending traffic), drain and close.
 * Rejects with a ShutdownTimeoutError, after logging what was still open, if
 * it all takes longer than `timeout`; later calls join the first.
 */
export class ShutdownSequence {
  readonly #steps: ShutdownSteps
  readonly #delay: number
  readonly #timeout: number
  readonly #log: ReadinessLogger
  #run: Promise<void> | null = null
  #stage: ShutdownStage = 'idle'
  #startedAt = 0
  #reachedClose: () => void = () => {}
  readonly #closing = new Promise<void>((resolve) => { this.#reachedClose = resolve })

  constructor (steps: ShutdownSteps, { delay, timeout }: { delay: number, timeout: number }, log: ReadinessLogger) {
    this.#steps = steps
    this.#delay = delay
    this.#timeout = timeout
    this.#log = log
  }

  get stage (): ShutdownStage { return this.#stage }
  get started (): boolean { return this.#run !== null }

  /**
   * Resolves once the sequence has served through its delay and drained, and begins to close (or ended,
   * however it ended): what an app.close() started by someone else waits for before Fastify closes.
   */
  untilClosing (): Promise<void> { return this.#closing }

  run (reason = 'shutdown'): Promise<void> {
    if (this.#run === null) this.#run = this.#bounded(reason)
    return this.#run
  }

  async #bounded (reason: string): Promise<void> {
    this.#startedAt = Date.now()
    let timer: NodeJS.Timeout | undefined
    // Not unref'd: a shutdown under way must end in an exit or an error, not
    // in the event loop running dry halfway through.
    const timedOut = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        const open = this.#steps.openWork()
        const error = new ShutdownTimeoutError(this.#timeout, this.#stage, open)
        this.#log.error({ stage: this.#stage, timeoutMs: this.#timeout, open }, `shutdown timed out in its ${this.#stage} step; still open: ${JSON.stringify(open)}`)
        reject(error)
      }, this.#timeout)
    })
    try {
      await Promise.race([this.#sequence(reason), timedOut])
    } finally {
      clearTimeout(timer)
      this.#reachedClose()
    }
  }

  async #sequence (reason: string): Promise<void> {
    const steps = this.#steps
    const aborting = steps.startupRunning()
    steps.startDraining()
    if (aborting) {
      // Never ready, so in no load balancer's rotation: nothing to keep serving.
      this.#log.info({ reason }, 'shutdown during startup: aborting the phases under way')
      steps.abortStartup()
    } else if (this.#delay > 0) {
      this.#stage = 'delay'
      this.#log.info({ reason, delayMs: this.#delay, timeoutMs: this.#timeout }, 'shutdown: readiness is 503; serving on while load balancers stop routing here')
      await new Promise((resolve) => setTimeout(resolve, this.#delay))
    } else {
      this.#log.info({ reason, timeoutMs: this.#timeout }, 'shutdown: readiness is 503; closing')
    }
    this.#stage = 'drain'
    await steps.closeConnections()
    this.#stage = 'close'
    this.#reachedClose()
    await steps.close()
    this.#stage = 'done'
    this.#log.info({ durationMs: Date.now() - this.#startedAt }, 'shutdown complete')
  }
}
