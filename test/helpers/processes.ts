import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import { sleep } from './net.js'

const SERVER = fileURLToPath(new URL('../../examples/chat-server/server.js', import.meta.url))

/** Whether a system command is installed; the end-to-end tests that need it are skipped, with the reason, when not. */
export function missing (command: string, pkg = command): string | false {
  const found = spawnSync('sh', ['-c', `command -v ${command}`]).status === 0
  return found ? false : `${command} is not installed (apt-get install -y ${pkg}; .ci/run installs it)`
}

export interface ChatProcess {
  port: number
  child: ChildProcess
  /** Parsed JSON log lines so far. */
  logs: Array<Record<string, unknown>>
  exited: Promise<number | null>
  stop: (signal?: NodeJS.Signals) => Promise<number | null>
}

/** The example chat server as a real process (a cold start each time), stopped when the test ends. */
export async function startChat (t: Test, port: number, env: Record<string, string> = {}): Promise<ChatProcess> {
  const child = spawn(process.execPath, [SERVER], {
    env: { ...process.env, PORT: String(port), LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const logs: Array<Record<string, unknown>> = []
  let pending = ''
  child.stdout?.setEncoding('utf8')
  child.stdout?.on('data', (chunk: string) => {
    pending += chunk
    const lines = pending.split('\n')
    pending = lines.pop() ?? ''
    for (const line of lines) { try { logs.push(JSON.parse(line)) } catch {} }
  })
  let stderr = ''
  child.stderr?.on('data', (c) => { stderr += String(c) })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const proc: ChatProcess = {
    port,
    child,
    logs,
    exited,
    async stop (signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      return await exited
    }
  }
  t.teardown(() => proc.stop('SIGKILL'))
  const deadline = Date.now() + 15_000
  // Listening: the page route answers (it is never gated, so this works during the cold start too).
  while ((await fetch(`http://127.0.0.1:${port}/`).then((r) => r.status, () => 0)) !== 200) {
    if (child.exitCode !== null) throw new Error(`chat server exited early: ${stderr}`)
    if (Date.now() > deadline) throw new Error(`chat server did not listen: ${stderr}`)
    await sleep(10)
  }
  return proc
}

/**
 * HAProxy in front of the given backends, configured as an operator would for
 * WebSockets: active health checks on /health/ready every 200 ms (one failure
 * takes a server out, one success brings it back), redispatch and retries on
 * connection failures, long tunnel timeouts.
 */
export async function startHaproxy (t: Test, port: number, backends: Array<{ name: string, port: number }>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'readiness-haproxy-'))
  const config = haproxyConfig(port, backends)
  writeFileSync(join(dir, 'haproxy.cfg'), config)
  const { child, stderr } = spawnHaproxy(t, dir)
  const deadline = Date.now() + 10_000
  for (;;) {
    const res = await fetch(`http://127.0.0.1:${port}/health/live`).catch(() => null)
    if (res !== null) return
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`haproxy did not start: ${stderr()}`)
    await sleep(50)
  }
}

/** Runs haproxy in the foreground on `dir`/haproxy.cfg; killed, and `dir` removed, when the test ends. */
export function spawnHaproxy (t: Test, dir: string): { child: ChildProcess, stderr: () => string } {
  const child = spawn('haproxy', ['-db', '-f', join(dir, 'haproxy.cfg')], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr?.on('data', (c) => { stderr += String(c) })
  t.teardown(async () => {
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGKILL')
      await exited
    }
    rmSync(dir, { recursive: true, force: true })
  })
  return { child, stderr: () => stderr }
}

export function haproxyConfig (port: number, backends: Array<{ name: string, port: number }>): string {
  return `global
  maxconn 4096

defaults
  mode http
  timeout connect 1s
  timeout client 30s
  timeout server 30s
  # an upgraded WebSocket is a tunnel: idle chat sockets must not be cut at 30 s
  timeout tunnel 1h
  timeout http-keep-alive 1s
  # a check of its own timeout: by default it is 'inter', and a fresh instance taking in a drained batch can
  # answer later than that (seen in bench/rolling-update.js) and be taken out
  timeout check 1s
  # a server that just died is retried on another one instead of failing the client
  option redispatch
  retries 3
  retry-on conn-failure empty-response response-timeout

frontend chat
  bind 127.0.0.1:${port}
  default_backend chat_servers

backend chat_servers
  # docs/haproxy.md: a drained client lands on the least loaded (fresh) instance
  balance leastconn
  option httpchk GET /health/ready
  http-check expect status 200
  # readiness turns 503 first on shutdown and during cold starts: one failed check takes the server out
  default-server inter 200ms fastinter 100ms fall 1 rise 1
${backends.map((b) => `  server ${b.name} 127.0.0.1:${b.port} check`).join('\n')}
`
}

export interface LineProcess {
  child: ChildProcess
  /** Resolves on 'close', not 'exit': every line the child wrote has been read by then. */
  exited: Promise<number | null>
  /** Signals the child (unless it is gone) and resolves once it closed. */
  stop: (signal: NodeJS.Signals) => Promise<number | null>
}

/**
 * A Node script as a child process (a delivery fixture, one instance of a fleet) that reports on stdout one
 * line per event: `onLine` gets every complete line (a line written before a kill -9 included: pipes are
 * synchronous on Linux); the child is listening once it writes a line starting with `L`. Killed when the test ends.
 */
export async function startLineProcess (t: Test, script: string, env: Record<string, string>, onLine: (line: string, child: ChildProcess) => void, options: { name?: string, listenTimeoutMs?: number } = {}): Promise<LineProcess> {
  const { name = 'instance', listenTimeoutMs = 15_000 } = options
  const child = spawn(process.execPath, [script], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let pending = ''
  let listening = false
  let stderr = ''
  child.stderr?.on('data', (c) => { stderr += String(c) })
  child.stdout?.setEncoding('utf8')
  child.stdout?.on('data', (chunk: string) => {
    pending += chunk
    const lines = pending.split('\n')
    pending = lines.pop() ?? ''
    for (const line of lines) {
      if (line.split(' ')[0] === 'L') listening = true
      onLine(line, child)
    }
  })
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)))
  const stop = async (signal: NodeJS.Signals): Promise<number | null> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal)
    return await exited
  }
  t.teardown(() => stop('SIGKILL'))
  const deadline = Date.now() + listenTimeoutMs
  while (!listening) {
    if (child.exitCode !== null) throw new Error(`${name} exited: ${stderr}`)
    if (Date.now() > deadline) throw new Error(`${name} did not listen: ${stderr}`)
    await sleep(10)
  }
  return { child, exited, stop }
}

/** Resolves once `port`'s /health/ready answers 200. */
export async function ready (port: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while ((await fetch(`http://127.0.0.1:${port}/health/ready`).then((r) => r.status, () => 0)) !== 200) {
    if (Date.now() > deadline) throw new Error(`:${port} never ready`)
    await sleep(20)
  }
}

/** Close events (`<code> <reason>`) counted by kind, for a test's comment. */
export function summarizeCloses (closes: string[]): string {
  const counts = new Map<string, number>()
  for (const c of closes) {
    const key = c.replace(/retry in \d+s/, 'retry in Ns').slice(0, 40)
    counts.set(key, (counts.get(key) ?? 0) + 1)
  }
  return [...counts].map(([k, v]) => `${v}x "${k}"`).join(', ')
}
