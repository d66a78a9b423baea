import { readFileSync } from 'node:fs'
import type { Signal } from './signals.js'

/**
 * What another signal listener means for the shutdown contract. Such a listener (close-with-grace in
 * fastify-cli's `fastify start` and its generated server.js, a hand-written one) calls app.close(), which
 * the shutdown plugin turns into the suite's sequence (readiness 503, the delay, the drain) before Fastify
 * closes; what it cannot change is a force-exit that comes first. close-with-grace exits 1 after its
 * `delay`: fastify-cli's `-g` / `--close-grace-delay` / FASTIFY_CLOSE_GRACE_DELAY (default 500 ms); the
 * generated server.js passes FASTIFY_CLOSE_GRACE_DELAY on as a string, which close-with-grace takes as
 * no force-exit at all, and 500 ms when it is unset.
 */
export interface RunnerInput {
  others: Array<{ signal: Signal, name: string }>
  argv: readonly string[]
  env: NodeJS.ProcessEnv
  /** What the sequence may take: shutdown.timeoutMs. */
  timeoutMs: number
}

const CLOSE_WITH_GRACE_LISTENER = 'onSignal'

export function runnerWarnings ({ others, argv, env, timeoutMs }: RunnerInput): string[] {
  if (others.length === 0) return []
  const signals = [...new Set(others.map((o) => o.signal))].join('/')
  const names = [...new Set(others.map((o) => o.name))].join(', ')
  if (isFastifyStart(argv)) {
    const delay = fastifyCliGraceDelay(argv, env)
    if (delay >= timeoutMs) return []
    return [`fastify-cli's \`fastify start\` also handles ${signals} (close-with-grace, listener ${names}) and force-exits ${delay} ms after the signal, before the suite's shutdown sequence (up to shutdown.timeoutMs ${timeoutMs} ms) can serve through its delay and drain: start it with \`fastify start -g ${timeoutMs}\` (or FASTIFY_CLOSE_GRACE_DELAY=${timeoutMs}); docs/runners.md`]
  }
  if (others.some((o) => o.name === CLOSE_WITH_GRACE_LISTENER)) {
    if (env.FASTIFY_CLOSE_GRACE_DELAY !== undefined && env.FASTIFY_CLOSE_GRACE_DELAY !== '') return []
    return [`another ${signals} listener (${names}, close-with-grace's, as in fastify-cli's generated server.js) also handles the signal; close-with-grace force-exits after its delay, 500 ms in that server.js, before the suite's shutdown sequence (up to shutdown.timeoutMs ${timeoutMs} ms) can serve through its delay and drain: set FASTIFY_CLOSE_GRACE_DELAY=${timeoutMs} (or give closeWithGrace a delay of at least ${timeoutMs}); docs/runners.md`]
  }
  return []
}

function isFastifyStart (argv: readonly string[]): boolean {
  const script = argv[1] ?? ''
  return /fastify-cli|[\\/]fastify(\.js)?$/.test(script) && commandLine(argv).includes('start')
}

/**
 * The arguments after the script. fastify-cli takes its own out of process.argv (argv.splice(2)), so
 * where they are gone they are read from the process's command line (Linux); elsewhere none are known.
 */
function commandLine (argv: readonly string[]): string[] {
  if (argv.length > 2) return argv.slice(2)
  try {
    return readFileSync('/proc/self/cmdline', 'utf8').split('\0').filter((a) => a !== '').slice(1)
  } catch {
    return []
  }
}

function fastifyCliGraceDelay (argv: readonly string[], env: NodeJS.ProcessEnv): number {
  const args = commandLine(argv)
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    if (arg === '-g' || arg === '--close-grace-delay') return Number(args[i + 1])
    if (arg.startsWith('--close-grace-delay=')) return Number(arg.slice('--close-grace-delay='.length))
    if (/^-g\d+$/.test(arg)) return Number(arg.slice(2))
  }
  const fromEnv = Number(env.FASTIFY_CLOSE_GRACE_DELAY)
  return env.FASTIFY_CLOSE_GRACE_DELAY !== undefined && Number.isFinite(fromEnv) ? fromEnv : 500
}
