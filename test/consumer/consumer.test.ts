// The package as a user gets it (issue 14): a clean copy of this checkout is packed (its `prepare` builds
// dist/), the tarball is installed into a fresh app next to fastify and @fastify/websocket from the
// registry, the README's Quick start is compiled under `tsc --strict` (nodenext and bundler) and run, and
// real `ws` clients cross its cold start; a CommonJS app require()s the package. An empty or codeless
// tarball fails every step after the content check. CONSUMER_TARBALL=<path> tests a given tarball instead.
import t from 'tap'
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { docBlocks, moduleFor, runnable } from './doc-blocks.js'

t.setTimeout(8 * 60_000)

const run = promisify(execFile)
const here = dirname(fileURLToPath(import.meta.url))
const repo = resolve(here, '../..')
const tsc = join(repo, 'node_modules', 'typescript', 'bin', 'tsc')
// Children run without tap's loaders (coverage, TypeScript): they are the user's processes.
const npmEnv = { ...process.env, NODE_OPTIONS: '', npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' }
const work = await mkdtemp(join(tmpdir(), 'fastify-readiness-consumer-'))
const app = join(work, 'app')
const timings: string[] = []

async function timed<T> (label: string, fn: () => Promise<T>): Promise<T> {
  const started = Date.now()
  try { return await fn() } finally { timings.push(`${label} ${((Date.now() - started) / 1000).toFixed(1)} s`) }
}

async function sh (cmd: string, args: string[], cwd: string, timeout = 180_000): Promise<string> {
  try {
    const { stdout } = await run(cmd, args, { cwd, timeout, env: npmEnv, maxBuffer: 64 << 20 })
    return stdout
  } catch (error) {
    const e = error as { stdout?: string, stderr?: string, message: string }
    throw new Error(`${cmd} ${args.join(' ')} failed in ${cwd}: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`)
  }
}

async function tarballProblems (file: string): Promise<{ problems: string[], files: number, total: number }> {
  const listing = (await sh('tar', ['tzvf', file], work)).trim().split('\n')
  const files = new Map(listing.map((line) => {
    const parts = line.trim().split(/\s+/)
    return [parts.at(-1)!.replace(/^package\//, ''), Number(parts[2])] as const
  }))
  const problems: string[] = []
  for (const needed of ['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md', 'dist/index.js', 'dist/index.d.ts',
    'dist/lib/client/index.js', 'dist/lib/client/index.d.ts', 'dist/client.browser.js', 'dist/plugins/websocket-gate.js',
    'docs/configuration.md', 'docs/client.md']) {
    if (!files.has(needed)) problems.push(`missing ${needed}`)
  }
  // No sourcemaps, pictures, TypeScript sources, tests, benches, examples or CI files; nothing over 100 kB.
  for (const [name, size] of files) {
    if (/\.map$|\.svg$|\.png$|(?<!\.d)\.ts$|^test\/|^bench\/|^examples\/|^\.github\//.test(name)) problems.push(`ships ${name}`)
    if (size > 100_000) problems.push(`${name} is ${size} bytes`)
  }
  const total = [...files.values()].reduce((a, b) => a + b, 0)
  // 0.2.0 shipped ~470 kB, 0.3.0 ~677 kB. Unreleased (npm pack --dry-run, 4 Dec): ~750 kB: dist JS without
  // comments (the build emits JS with removeComments, then the declarations with their JSDoc) ~318 kB, .d.ts
  // ~180 kB, docs ~188 kB (benchmarks.md and client.md grew with issues 24 and 26), CHANGELOG ~43 kB, README,
  // LICENSE and package.json ~22 kB. Pictures, maps, sources and stray folders are caught by the rules above;
  // this total catches slow bloat, with ~7 % room over today.
  if (total > 800_000) problems.push(`unpacked size ${total} bytes is over 800 kB`)
  return { problems, files: files.size, total }
}

async function freePort (): Promise<number> {
  return await new Promise((resolvePort, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolvePort(port))
    }).on('error', reject)
  })
}

async function startQuickstart (file: string): Promise<{ child: ChildProcess, port: number, log: () => string }> {
  const port = await freePort()
  const child = spawn(process.execPath, [file], { cwd: app, env: { ...npmEnv, PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] })
  let log = ''
  await new Promise<void>((resolveStart, reject) => {
    const timer = setTimeout(() => reject(new Error(`${file} did not listen within 30 s:\n${log}`)), 30_000)
    const onData = (chunk: Buffer): void => {
      log += chunk
      if (log.includes('Server listening')) { clearTimeout(timer); resolveStart() }
    }
    child.stdout!.on('data', onData)
    child.stderr!.on('data', onData)
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`${file} exited with ${code}:\n${log}`)) })
  })
  return { child, port, log: () => log }
}

async function stop (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return
  const exited = new Promise((resolveExit) => child.once('exit', resolveExit))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
  await exited
  clearTimeout(timer)
}

// One test holding the steps in order: tap would otherwise end the file between top-level awaits.
t.test('consumer app from the packed tarball', async (t) => {
  t.teardown(() => rm(work, { recursive: true, force: true }))
  t.teardown(() => { t.comment(`consumer timings: ${timings.join(', ')}`) })
  // 1. Pack a clean checkout: the files git knows of (committed or not ignored), not this tree's dist/.
  const tarball = await timed('pack', async () => {
    if (process.env.CONSUMER_TARBALL) return resolve(process.env.CONSUMER_TARBALL)
    const checkout = join(work, 'checkout')
    const listed = (await sh('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], repo)).split('\0').filter(Boolean)
    for (const file of listed) {
      if (!existsSync(join(repo, file))) continue // deleted but not yet committed
      await mkdir(dirname(join(checkout, file)), { recursive: true })
      await cp(join(repo, file), join(checkout, file))
    }
    await symlink(join(repo, 'node_modules'), join(checkout, 'node_modules'), 'dir')
    await sh('npm', ['pack', '--pack-destination', work, '--silent'], checkout)
    const name = JSON.parse(await readFile(join(repo, 'package.json'), 'utf8')) as { name: string, version: string }
    return join(work, `${name.name}-${name.version}.tgz`)
  })

  await t.test('the tarball holds what a user needs and nothing that bloats the install', async (t) => {
    const { problems, files, total } = await tarballProblems(tarball)
    t.same(problems, [], 'dist/ with declarations and the browser bundle, LICENSE, README, CHANGELOG, the docs; nothing else')
    t.comment(`tarball: ${files} files, ${total} bytes unpacked`)
  })

  await t.test('the content check fails on a tarball without code (what 0.1.0 shipped)', async (t) => {
    const empty = join(work, 'empty')
    await mkdir(join(empty, 'package'), { recursive: true })
    await cp(join(repo, 'package.json'), join(empty, 'package', 'package.json'))
    await cp(join(repo, 'README.md'), join(empty, 'package', 'README.md'))
    await sh('tar', ['czf', 'empty.tgz', 'package'], empty)
    const { problems } = await tarballProblems(join(empty, 'empty.tgz'))
    t.ok(problems.includes('missing dist/index.js'), 'reports the missing code')
  })

  // 2. A fresh app: the tarball, fastify and @fastify/websocket from the registry (local cache first).
  await mkdir(app)
  await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }, null, 2))
  const versionOf = async (name: string): Promise<string> => JSON.parse(await readFile(join(repo, 'node_modules', name, 'package.json'), 'utf8')).version as string
  const typesNode = await versionOf('@types/node')
  // What the docs' blocks import besides the package: the OpenTelemetry SDK and exporter (the versions this
  // repo tests with), ioredis (a peer), close-with-grace (the docs' alternative to the suite's signals).
  const docDeps = await Promise.all(['@opentelemetry/api', '@opentelemetry/sdk-metrics', '@opentelemetry/exporter-prometheus', 'ioredis'].map(async (name) => `${name}@${await versionOf(name)}`))
  await timed('npm install', () => sh('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error',
    tarball, 'fastify@^5', '@fastify/websocket@^11', 'ws@^8', '@types/ws@^8', `@types/node@^${typesNode.split('.')[0]}`, ...docDeps, 'close-with-grace@^2'], app, 300_000))
  for (const file of ['prelude.ts', 'client-types.ts', 'drive.mjs', 'app.cjs']) await cp(join(here, 'app', file), join(app, file))

  // The Quick start, verbatim from README.md, on a free port; and its `hold` twin.
  const readme = await readFile(join(repo, 'README.md'), 'utf8')
  const quick = /## Quick start\s+```ts\n([\s\S]*?)```/.exec(readme)?.[1]
  t.ok(quick, 'README.md has a ```ts Quick start')
  const prelude = await readFile(join(here, 'app', 'prelude.ts'), 'utf8')
  const listenLine = 'await app.listen({ port: 8080 })'
  const rejectLine = "websocket: { mode: 'reject' },"
  t.ok(quick?.includes(listenLine) && quick.includes(rejectLine), 'the Quick start still listens on 8080 in reject mode (else update this test)')
  const onPort = (quick ?? '').replace(listenLine, "await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' })")
  await writeFile(join(app, 'quickstart.ts'), prelude + onPort)
  await writeFile(join(app, 'quickstart-hold.ts'), prelude + onPort.replace(rejectLine, "websocket: { mode: 'hold' },"))

  // skipLibCheck only where the run is about resolution: nodenext also checks the shipped declarations.
  const strict = { strict: true, target: 'ES2022', types: ['node'], skipLibCheck: true, esModuleInterop: true }
  const configs: Record<string, object> = {
    nodenext: { compilerOptions: { ...strict, skipLibCheck: false, module: 'nodenext', moduleResolution: 'nodenext', outDir: 'out' }, files: ['quickstart.ts', 'quickstart-hold.ts', 'client-types.ts'] },
    bundler: { compilerOptions: { ...strict, module: 'esnext', moduleResolution: 'bundler', noEmit: true }, files: ['quickstart.ts', 'quickstart-hold.ts', 'client-types.ts'] },
    node16: { compilerOptions: { ...strict, module: 'node16', moduleResolution: 'node16', noEmit: true }, files: ['client-types.ts'] },
    // node10 ignores `exports`; the package's `typesVersions` maps `fastify-readiness/client` for it.
    node10: { compilerOptions: { ...strict, module: 'commonjs', moduleResolution: 'node10', noEmit: true }, files: ['client-types.ts'] }
  }

  await t.test('the Quick start and the client compile under tsc --strict', async (t) => {
    // In parallel: each is one process, and they are independent.
    const results = await timed('tsc (nodenext, bundler, node16, node10)', () => Promise.all(Object.entries(configs).map(async ([name, config]) => {
      await writeFile(join(app, `tsconfig.${name}.json`), JSON.stringify(config, null, 2))
      return [name, await sh(process.execPath, [tsc, '-p', `tsconfig.${name}.json`], app).then(() => '', (e: Error) => e.message)] as const
    })))
    for (const [name, result] of results) t.equal(result, '', `compiles with moduleResolution ${name}`)
  })

  // Every ```ts/```js block of README.md and docs/*.md, each its own module with a prelude of the app's own
  // names it uses (test/consumer/doc-blocks.ts), under strict nodenext; the blocks that build their own app
  // and do not listen run too (until app.ready(), then they close).
  await t.test('every code block of the README and the docs compiles, and the self-contained ones run', async (t) => {
    const blocks = await docBlocks(repo)
    t.ok(blocks.length >= 20, `${blocks.length} blocks`)
    await mkdir(join(app, 'docs'), { recursive: true })
    const runs: Array<{ where: string, file: string }> = []
    for (const block of blocks) {
      await writeFile(join(app, 'docs', block.file), moduleFor(block))
      if (!runnable(block)) continue
      const port = await freePort()
      const file = `run-${block.file}`
      const code = block.code.replace(/port: 9464/g, `port: ${port}, host: '127.0.0.1'`) +
        "await app.ready()\nawait app.close()\nconsole.log('block ran')\nprocess.exit(0)\n"
      await writeFile(join(app, 'docs', file), moduleFor({ ...block, code }))
      runs.push({ where: block.where, file })
    }
    const config = {
      compilerOptions: { strict: true, target: 'ES2022', types: ['node'], skipLibCheck: true, esModuleInterop: true, module: 'nodenext', moduleResolution: 'nodenext', allowJs: true, checkJs: true, outDir: 'out-docs', rootDir: 'docs' },
      include: ['docs']
    }
    await writeFile(join(app, 'tsconfig.docs.json'), JSON.stringify(config, null, 2))
    const output = await timed('tsc (docs blocks)', () => sh(process.execPath, [tsc, '-p', 'tsconfig.docs.json', '--pretty', 'false'], app).then(() => '', (e: Error) => e.message))
    for (const block of blocks) {
      const errors = output.split('\n').filter((line) => line.startsWith(`docs/${block.file}(`) || line.startsWith(`docs/run-${block.file}(`))
      t.same(errors, [], `${block.where} compiles`)
    }
    t.notMatch(output, /error TS/, 'no other error')
    for (const { where, file } of runs) {
      const out = await timed(`run ${where}`, () => sh(process.execPath, [join('out-docs', file.replace(/\.ts$/, '.js'))], app, 60_000).catch((e: Error) => e.message))
      t.match(out, /block ran/, `${where} runs`)
    }
  })

  await t.test('hold: a ws client that connects during the cold start is held until ready, then echoes', async (t) => {
    const server = await startQuickstart('out/quickstart-hold.js')
    t.teardown(() => stop(server.child))
    const out = JSON.parse(await timed('run hold', () => sh(process.execPath, ['drive.mjs', String(server.port), 'hold', String(server.child.pid)], app, 60_000)))
    t.equal(out.healthBefore, 503, 'the app was cold when the client connected')
    t.notOk(out.openedBeforeWarm, 'the upgrade was not answered while the app was cold')
    t.equal(out.healthAtOpen, 200, 'the socket opened once the app was ready')
    t.equal(out.echo, 'hello', 'echo')
  })

  await t.test('reject (the README as written): a plain client gets 503, the package client comes back and echoes', async (t) => {
    const server = await startQuickstart('out/quickstart.js')
    t.teardown(() => stop(server.child))
    const out = JSON.parse(await timed('run reject', () => sh(process.execPath, ['drive.mjs', String(server.port), 'reject', String(server.child.pid)], app, 60_000)))
    t.equal(out.healthBefore, 503, 'the app was cold when the clients connected')
    t.equal(out.rawStatus, 503, 'a plain ws client is refused with 503 during the cold start')
    t.ok(out.refusedBeforeOpen >= 1, 'the ReadinessClient was refused at least once, then retried')
    t.equal(out.healthAtOpen, 200, 'it opened once the app was ready')
    t.equal(out.echo, 'hello', 'echo')
  })

  await t.test('a CommonJS app require()s the package and its client', async (t) => {
    const out = JSON.parse(await timed('run cjs', () => sh(process.execPath, ['app.cjs'], app, 60_000)))
    t.equal(out.echo, 'hello from require()', 'held across the cold start, then echo')
    t.equal(out.client, 'function', 'require("fastify-readiness/client") gives the client class')
  })
})
