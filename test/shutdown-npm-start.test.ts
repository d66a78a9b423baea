import t from 'tap'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { closed, connect, sleep } from './helpers/net.js'
import { freePort } from './helpers/servers.js'

const ROOT = fileURLToPath(new URL('..', import.meta.url))

// A container whose command is `npm start`: the signal goes to npm. Its script must exec node, or sh
// swallows SIGTERM and node keeps running with its sockets open (the first finding).
// Ctrl-C in a terminal signals the whole process group, and npm forwards the signal to node as well: node
// got SIGINT twice within a millisecond, took the second for "exit at once", and every socket saw 1006.
const cases = [
  { signal: 'SIGTERM', group: false, name: 'SIGTERM to `npm start`' },
  { signal: 'SIGINT', group: false, name: 'SIGINT to `npm start`' },
  { signal: 'SIGINT', group: true, name: 'Ctrl-C on `npm start` (SIGINT to its process group)' }
] as const
for (const { signal, group, name } of cases) {
  t.test(`${name} reaches node: sockets get 1012 and everything exits 0`, async (t) => {
    const port = await freePort()
    // --ignore-scripts skips prestart's build (the test run has built already); the start script itself still runs.
    const npm = spawn('npm', ['start', '--ignore-scripts', '--silent'], {
      cwd: ROOT,
      env: { ...process.env, PORT: String(port), WARMUP_MS: '100', LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'pipe'],
      // Its own process group, as a terminal's foreground job has.
      detached: group
    })
    let stderr = ''
    npm.stderr?.on('data', (c) => { stderr += String(c) })
    const exited = new Promise<number | null>((resolve) => npm.once('exit', (code) => resolve(code)))
    t.teardown(() => { if (npm.exitCode === null) npm.kill('SIGKILL') })
    const deadline = Date.now() + 20_000
    while ((await fetch(`http://127.0.0.1:${port}/health/ready`).then((r) => r.status, () => 0)) !== 200) {
      if (Date.now() > deadline || npm.exitCode !== null) throw new Error(`npm start did not become ready: ${stderr}`)
      await sleep(50)
    }
    const o = await connect(`ws://127.0.0.1:${port}/chat/lobby`)
    if (o.kind !== 'open') throw new Error('should open')
    const done = closed(o.ws)
    if (group) process.kill(-npm.pid!, signal)
    else npm.kill(signal)
    t.equal((await done).code, 1012, 'the open socket was drained with 1012')
    t.equal(await exited, 0, 'npm exited 0')
    const after = await fetch(`http://127.0.0.1:${port}/health/live`).then((r) => r.status, (err: Error) => String((err.cause as Error)?.message ?? err))
    t.match(after, /ECONNREFUSED/, 'and node is gone, not left running with its port open')
  })
}
