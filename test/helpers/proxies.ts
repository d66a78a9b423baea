import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import WebSocket from 'ws'
import { sleep } from './net.js'

const INSTANCE = fileURLToPath(new URL('../fixtures/proxy-instance.mjs', import.meta.url))
export const NGINX = '/usr/sbin/nginx'
export const CADDY = '/usr/bin/caddy'

export interface Instance { name: string, port: number, child: ChildProcess, exited: Promise<number | null> }

/** test/fixtures/proxy-instance.mjs as a real process; killed when the test ends. */
/** `received`: with LOG_MESSAGES=1, every message the instance's handler got is added to it. */
export async function startInstance (t: Test, name: string, port: number, env: Record<string, string>, received?: Set<string>): Promise<Instance> {
  const child = spawn(process.execPath, [INSTANCE], { env: { ...process.env, NAME: name, PORT: String(port), ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr?.on('data', (c) => { stderr += String(c) })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  t.teardown(async () => { if (child.exitCode === null && child.signalCode === null) { child.kill('SIGKILL'); await exited } })
  await new Promise<void>((resolve, reject) => {
    let pending = ''
    child.stdout?.on('data', (c) => {
      pending += String(c)
      const lines = pending.split('\n')
      pending = lines.pop() ?? ''
      for (const line of lines) {
        const entry = JSON.parse(line) as { listening?: number, got?: string }
        if (entry.listening !== undefined) resolve()
        if (entry.got !== undefined) received?.add(entry.got)
      }
    })
    void exited.then(() => reject(new Error(`instance ${name} exited: ${stderr}`)))
  })
  return { name, port, child, exited }
}

export async function status (url: string): Promise<number> {
  return await fetch(url).then((r) => r.status, () => 0)
}

/** Polls a condition that an outside process makes true (a proxy, an instance), with a deadline. */
export async function waitFor (what: string, predicate: () => Promise<boolean>, timeout = 15_000): Promise<void> {
  const deadline = Date.now() + timeout
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeout} ms`)
    await sleep(25)
  }
}

export type Upgrade = { kind: 'served', by: string } | { kind: 'closed', code: number } | { kind: 'refused', status: number } | { kind: 'error', message: string }

/** One WebSocket upgrade through the proxy: who served it (the first message), or how it failed. */
export function upgrade (url: string, handshakeTimeout = 20_000): Promise<Upgrade> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { handshakeTimeout })
    ws.once('message', (data) => { resolve({ kind: 'served', by: data.toString() }); ws.close() })
    ws.once('close', (code) => resolve({ kind: 'closed', code }))
    ws.once('unexpected-response', (_req, res) => { res.resume(); resolve({ kind: 'refused', status: res.statusCode ?? 0 }); ws.terminate() })
    ws.once('error', (err) => resolve({ kind: 'error', message: err.message }))
  })
}

/** `stop`: the signal that ends the server and its workers (nginx's master takes its workers down on SIGTERM, not on SIGKILL). */
function run (t: Test, command: string, args: string[], dir: string, stop: NodeJS.Signals = 'SIGKILL'): { child: ChildProcess, output: () => string } {
  // Caddy keeps its data and config under XDG dirs: the temp dir, not the user's home.
  const env = { ...process.env, HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir }
  const child = spawn(command, args, { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout?.on('data', (c) => { output += String(c) })
  child.stderr?.on('data', (c) => { output += String(c) })
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill(stop)
      await exited
    }
    rmSync(dir, { recursive: true, force: true })
  })
  return { child, output: () => output }
}

/** docs/proxies.md's nginx configuration, with its paths in a temp dir. */
export function nginxConfig (dir: string, port: number, upstreams: number[]): string {
  return `worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/temp/body;
  proxy_temp_path ${dir}/temp/proxy;
  fastcgi_temp_path ${dir}/temp/fastcgi;
  uwsgi_temp_path ${dir}/temp/uwsgi;
  scgi_temp_path ${dir}/temp/scgi;

  map $http_upgrade $connection_upgrade { default upgrade; '' close; }

  upstream app {
${upstreams.map((p) => `    server 127.0.0.1:${p};`).join('\n')}
  }

  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host $host;
      # A 503 before the handshake (reject; hold after its timeout) is retried on the next instance.
      # An upgrade is a GET: idempotent, so nginx may retry it.
      proxy_next_upstream error timeout http_503;
      proxy_next_upstream_tries 3;
      # Longer than the gate's longest hold; then the open tunnel's idle limit.
      proxy_read_timeout 1h;
      proxy_send_timeout 1h;
    }
  }
}
`
}

export async function startNginx (t: Test, port: number, upstreams: number[]): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'readiness-nginx-'))
  mkdirSync(join(dir, 'temp'))
  writeFileSync(join(dir, 'nginx.conf'), nginxConfig(dir, port, upstreams))
  const { child, output } = run(t, NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], dir, 'SIGTERM')
  await waitFor('nginx listens', async () => {
    if (child.exitCode !== null) throw new Error(`nginx exited: ${output()}`)
    return (await status(`http://127.0.0.1:${port}/name`)) !== 0
  })
}

/** docs/proxies.md's Caddyfile: active health checks on /health/websocket, retries within lb_try_duration. */
export function caddyfile (port: number, upstreams: number[]): string {
  return `{
  admin off
  auto_https off
}

http://127.0.0.1:${port} {
  reverse_proxy ${upstreams.map((p) => `127.0.0.1:${p}`).join(' ')} {
    lb_policy round_robin
    # keep trying another instance for up to 5 s when one cannot be reached
    lb_try_duration 5s
    lb_try_interval 100ms
    # an instance that is not ready for WebSockets (cold start, draining) leaves the rotation
    health_uri /health/websocket
    health_interval 200ms
    health_timeout 1s
    health_status 200
  }
}
`
}

export async function startCaddy (t: Test, port: number, upstreams: number[]): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'readiness-caddy-'))
  writeFileSync(join(dir, 'Caddyfile'), caddyfile(port, upstreams))
  const { child, output } = run(t, CADDY, ['run', '--config', join(dir, 'Caddyfile'), '--adapter', 'caddyfile'], dir)
  await waitFor('caddy listens', async () => {
    if (child.exitCode !== null) throw new Error(`caddy exited: ${output()}`)
    return (await status(`http://127.0.0.1:${port}/name`)) !== 0
  })
}
