import { spawn, execFileSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, rmSync, chownSync } from 'node:fs'
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { createServer, Socket, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { sleep } from './net.js'

/**
 * Private dependency servers for fault tests: each on a free loopback port,
 * killed and cleaned up when the test ends. The shared PostgreSQL and Redis of
 * the machine are never stopped or flushed.
 */

export async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

async function waitForPort (port: number, timeout = 10_000): Promise<void> {
  const deadline = Date.now() + timeout
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const s = new Socket()
      s.once('connect', () => { s.destroy(); resolve(true) })
      s.once('error', () => { s.destroy(); resolve(false) })
      s.connect(port, '127.0.0.1')
    })
    if (open) return
    if (Date.now() > deadline) throw new Error(`nothing listens on ${port} after ${timeout} ms`)
    await sleep(20)
  }
}

export interface RedisServer {
  port: number
  url: string
  start: () => Promise<void>
  kill: (signal?: NodeJS.Signals) => Promise<void>
}

/** A redis-server of the test's own, not started until `start()`. */
export async function redisServer (t: Test): Promise<RedisServer> {
  const port = await freePort()
  let child: ChildProcess | null = null
  const server: RedisServer = {
    port,
    url: `redis://127.0.0.1:${port}`,
    async start () {
      child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--logfile', ''], { stdio: 'ignore' })
      await waitForPort(port)
    },
    async kill (signal = 'SIGKILL') {
      const c = child
      if (c === null || c.exitCode !== null) return
      const exited = new Promise((resolve) => c.once('exit', resolve))
      c.kill(signal)
      await exited
      child = null
    }
  }
  t.teardown(() => server.kill())
  return server
}

export interface PostgresServer {
  port: number
  url: string
  start: () => Promise<void>
  stop: (mode?: 'immediate' | 'fast') => Promise<void>
}

function pgBin (name: string): string {
  const versions = existsSync('/usr/lib/postgresql') ? readdirSync('/usr/lib/postgresql').sort().reverse() : []
  for (const v of versions) {
    const path = `/usr/lib/postgresql/${v}/bin/${name}`
    if (existsSync(path)) return path
  }
  return name
}

/** A PostgreSQL cluster of the test's own (initdb + pg_ctl in a temp dir), not started until `start()`. */
export async function postgresServer (t: Test): Promise<PostgresServer> {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'readiness-pg-'))
  const data = join(dir, 'data')
  // initdb refuses to run as root: run the cluster as the postgres user then.
  const asRoot = process.getuid?.() === 0
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString())
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString())
    chownSync(dir, uid, gid)
  }
  const run = (bin: string, args: string[]): void => {
    const cmd = asRoot ? 'runuser' : pgBin(bin)
    const argv = asRoot ? ['-u', 'postgres', '--', pgBin(bin), ...args] : args
    execFileSync(cmd, argv, { stdio: 'ignore', timeout: 60_000 })
  }
  run('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync'])
  let running = false
  const server: PostgresServer = {
    port,
    url: `postgres://postgres:not-a-secret@127.0.0.1:${port}/postgres`,
    async start () {
      run('pg_ctl', ['-D', data, '-l', join(dir, 'log'), '-w', '-t', '30', '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`, 'start'])
      running = true
    },
    async stop (mode = 'immediate') {
      if (!running) return
      run('pg_ctl', ['-D', data, '-m', mode, '-w', 'stop'])
      running = false
    }
  }
  t.teardown(async () => {
    await server.stop().catch(() => {})
    rmSync(dir, { recursive: true, force: true })
  })
  return server
}

/**
 * Accepts TCP connections, reads what it is sent and never answers: the hung
 * dependency. It reads so that it sees a client's FIN: the count is of
 * connections the client side has not closed.
 */
export async function silentServer (t: Test): Promise<{ port: number, connections: () => number }> {
  const sockets = new Set<Socket>()
  const server: Server = createServer((socket) => {
    sockets.add(socket)
    socket.resume()
    socket.on('error', () => {})
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => {
    for (const s of sockets) s.destroy()
    server.close(() => resolve())
  }))
  return { port: (server.address() as { port: number }).port, connections: () => sockets.size }
}

export async function httpServer (t: Test, handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const server = createHttpServer(handler)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }))
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`
}
