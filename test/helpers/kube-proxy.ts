import type { Test } from 'tap'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { connect as unixConnect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sleep } from './net.js'
import { spawnHaproxy } from './processes.js'

/**
 * HAProxy as kube-proxy: TCP mode (layer 4), no health checks, no retries, an empty backend `endpoints`
 * that the test fills and empties through the runtime API, as the endpoints controller would.
 * Resolves with a function that sends one runtime API command and resolves with its answer.
 */
export async function kubeProxy (t: Test, port: number): Promise<(command: string) => Promise<string>> {
  const dir = mkdtempSync(join(tmpdir(), 'readiness-kube-proxy-'))
  const socket = join(dir, 'admin.sock')
  writeFileSync(join(dir, 'haproxy.cfg'), `global
  maxconn 4096
  stats socket ${socket} level admin

defaults
  mode tcp
  timeout connect 1s
  timeout client 1h
  timeout server 1h
  retries 0

frontend service
  bind 127.0.0.1:${port}
  default_backend endpoints

backend endpoints
  balance roundrobin
`)
  const { child, stderr } = spawnHaproxy(t, dir)
  const command = (line: string): Promise<string> => new Promise((resolve, reject) => {
    const conn = unixConnect(socket)
    let out = ''
    conn.setEncoding('utf8')
    conn.on('data', (c: string) => { out += c })
    conn.on('error', reject)
    conn.on('close', () => resolve(out.trim()))
    conn.end(`${line}\n`)
  })
  const deadline = Date.now() + 10_000
  for (;;) {
    const ok = await command('show info').then((out) => out.includes('Name: HAProxy'), () => false)
    if (ok) return command
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`haproxy did not start: ${stderr()}`)
    await sleep(50)
  }
}
