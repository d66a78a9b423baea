#!/usr/bin/env node
// Compatibility suites (issue 12): the published test suites of @fastify/websocket and
// @fastify/under-pressure, at the versions in package-lock.json, run unchanged with fastify-readiness
// (our built dist/) registered right after every registration of the plugin under test.
//
//   node test/compat/run.mjs [websocket|under-pressure ...]   (COMPAT_SCENARIOS=ready,hold,reject)
//
// Each suite is fetched with `npm pack` (the published tarball carries its tests) into a temp dir and run
// the way its package runs it: `node --test` (@fastify/websocket's `c8 node --test`, under-pressure's borp,
// both node:test; coverage left out). `require('fastify')` in their tests resolves to a stand-in that wraps
// the factory (register-hook.cjs); every other module resolves to this repo's node_modules (NODE_PATH), so
// the peers run against the fastify a user of this lockfile gets. Modules their tests need that are
// missing here (proxyquire, sinon) are installed into the temp dir from the registry (--prefer-offline).
import { spawn, execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { delimiter, dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const repo = resolve(here, '../..')
const repoRequire = createRequire(join(repo, 'package.json'))

// `baseline` (no fastify-readiness) tells a broken environment from a break of ours.
export const SCENARIOS = ['baseline', 'ready', 'hold', 'reject']
/** In reject, a peer test still waiting after 10 s waits for something the 503 ruled out. */
const REJECT_TEST_TIMEOUT_MS = 10_000

// In `reject`, upgrades that arrive before the probe passes are refused with 503 by design. Only tests
// that open a real socket right after `listen()` may therefore fail, and only with that 503; each entry
// says why the test meets the gate. Keyed `file > test name`.
// Every entry below opens a real `ws` client (`new WebSocket('ws://…')` or `createWebSocketStream`)
// within milliseconds of `listen()`, i.e. before the 200 ms probe passes, so `reject` answers its upgrade
// with 503 + Retry-After by design. Tests that use `injectWS` or plain HTTP are not here: they must pass.
const OPENS_A_REAL_SOCKET_BEFORE_READY = [
  'test/base.test.js > Should expose a websocket',
  'test/base.test.js > Should run custom errorHandler on wildcard route handler error',
  'test/base.test.js > Should run custom errorHandler on error inside websocket handler',
  'test/base.test.js > Should run custom errorHandler on error inside async websocket handler',
  'test/base.test.js > Should run custom errorHandler when the raw socket emits an error',
  'test/base.test.js > Should be able to pass custom options to ws',
  'test/base.test.js > Should warn if path option is provided to ws',
  'test/base.test.js > Should be able to pass a custom server option to ws',
  'test/base.test.js > Should be able to pass preClose option to override default',
  'test/base.test.js > Should gracefully close with a connected client',
  'test/base.test.js > Should gracefully close when clients attempt to connect after calling close',
  'test/base.test.js > Should keep accepting connection',
  'test/base.test.js > Should keep processing message when many medium sized messages are sent',
  'test/base.test.js > Should Handle WebSocket errors to avoid Node.js crashes',
  'test/base.test.js > clashing upgrade handler',
  'test/hooks.test.js > Should run onRequest, preValidation, preHandler hooks',
  'test/hooks.test.js > Should not run onTimeout hook',
  'test/hooks.test.js > Should run onError hook before handler is executed (error thrown in onRequest hook)',
  'test/hooks.test.js > Should run onError hook before handler is executed (error thrown in preValidation hook)',
  'test/hooks.test.js > onError hooks can send a reply and prevent hijacking',
  'test/hooks.test.js > setErrorHandler functions can send a reply and prevent hijacking',
  'test/hooks.test.js > Should not run onError hook if reply was already hijacked (error thrown in websocket handler)',
  'test/hooks.test.js > Should not run preSerialization/onSend hooks',
  'test/hooks.test.js > Should run async hooks and still deliver quickly sent messages',
  'test/hooks.test.js > Should not hijack reply for an WS request to a WS route that gets sent a normal HTTP response in a hook',
  'test/router.test.js > Should expose a websocket on prefixed route',
  'test/router.test.js > Should expose a websocket on prefixed route with /',
  'test/router.test.js > Should expose websocket and http route',
  'test/router.test.js > Should close on unregistered path (with no wildcard route websocket handler defined)',
  'test/router.test.js > Should use wildcard websocket route when (with a normal http wildcard route defined as well)',
  'test/router.test.js > Should call wildcard route handler on unregistered path',
  'test/router.test.js > Should call the wildcard handler if a no other non-websocket route with path exists',
  'test/router.test.js > Should close the connection if a non-websocket route with path exists',
  'test/router.test.js > Should open on registered path',
  'test/router.test.js > Should send message and close',
  'test/router.test.js > Should pass route params to per-route handlers',
  'test/router.test.js > Should not throw error when register empty get with prefix',
  'test/router.test.js > Should expose fastify instance to websocket per-route handler',
  'test/router.test.js > Should have access to decorators in per-route handler',
  'test/router.test.js > should call `destroy` when exception is thrown inside async handler'
]
// Raw-socket, callback-style tests that write an upgrade by hand and wait for a WebSocket frame: after the
// gate's 503 (and the FIN that follows it) they wait on, ignoring 'end', until node:test's per-test timeout
// ends them. The gate answered and closed the socket; the test cannot notice. node:test reports that as a
// timeout of the whole file, and the file's later tests do not run in reject. Keyed by file.
const WAITS_FOR_A_FRAME_AFTER_503 = new Map([
  ['test/router.test.js', 'Should invoke the correct handler depending on the headers']
])
export const REJECT_ALLOWLIST = {
  websocket: new Set(OPENS_A_REAL_SOCKET_BEFORE_READY),
  // under-pressure registers no WebSocket route: nothing may fail.
  'under-pressure': new Set()
}

export const SUITES = {
  // node:test's timeout also bounds a whole file; @fastify/websocket's files take ~5 s each.
  websocket: { pkg: '@fastify/websocket', testDir: 'test', scenarios: SCENARIOS, testTimeoutMs: 45_000, fileTimeoutMs: 90_000 },
  // Its suite takes over a minute per run (index.test.js waits on event-loop samples, slower on a loaded
  // machine); `reject` would repeat `hold` (see register-hook.cjs).
  'under-pressure': { pkg: '@fastify/under-pressure', testDir: 'test', scenarios: ['ready', 'hold'], testTimeoutMs: 180_000, fileTimeoutMs: 240_000 }
}

function lockedVersion (pkg) {
  const lock = JSON.parse(readFileSync(join(repo, 'package-lock.json'), 'utf8'))
  const entry = lock.packages[`node_modules/${pkg}`]
  if (entry === undefined) throw new Error(`${pkg} is not in package-lock.json`)
  return entry.version
}

function testFiles (dir, suffix = '.test.js') {
  const out = []
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) out.push(...testFiles(path, suffix))
    else if (entry.name.endsWith(suffix)) out.push(path)
  }
  return out.sort()
}

function npm (args, cwd) {
  return execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
}

/** Fetches the published package into a temp dir (reused while the version is the same). */
export function prepare (suite) {
  const { pkg, testDir } = SUITES[suite]
  const version = lockedVersion(pkg)
  const work = join(tmpdir(), `fastify-readiness-compat-${suite}-${version}`)
  const pkgDir = join(work, 'package')
  const ready = join(work, '.prepared')
  if (!existsSync(ready)) {
    rmSync(work, { recursive: true, force: true })
    mkdirSync(work, { recursive: true })
    const tarball = npm(['pack', `${pkg}@${version}`, '--prefer-offline', '--silent'], work).trim().split('\n').pop()
    execFileSync('tar', ['xzf', tarball], { cwd: work })
    const files = testFiles(join(pkgDir, testDir))
    if (files.length === 0) throw new Error(`${pkg}@${version} carries no test files`)

    // Modules their tests require that this repo does not have: install them next to the suite.
    const manifest = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'))
    const wanted = new Set()
    for (const file of testFiles(join(pkgDir, testDir), '.js')) { // their helpers too
      for (const [, name] of readFileSync(file, 'utf8').matchAll(/require\('([^'.][^']*)'\)/g)) {
        if (name.startsWith('node:') || name === 'fastify') continue
        const base = name.startsWith('@') ? name.split('/').slice(0, 2).join('/') : name.split('/')[0]
        try { repoRequire.resolve(base) } catch { wanted.add(base) }
      }
    }
    const extra = join(work, 'extra')
    mkdirSync(extra)
    writeFileSync(join(extra, 'package.json'), '{ "private": true }\n')
    if (wanted.size > 0) {
      const specs = [...wanted].map((name) => `${name}@${manifest.devDependencies?.[name] ?? manifest.dependencies?.[name] ?? 'latest'}`)
      npm(['install', '--no-save', '--no-package-lock', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', ...specs], extra)
    }

    // The stand-in for `fastify` that their tests require.
    const shim = join(pkgDir, 'node_modules', 'fastify')
    mkdirSync(shim, { recursive: true })
    writeFileSync(join(shim, 'package.json'), '{ "name": "fastify", "main": "index.js" }\n')
    writeFileSync(join(shim, 'index.js'), `'use strict'\nmodule.exports = require(${JSON.stringify(join(here, 'register-hook.cjs'))})\n`)
    writeFileSync(ready, `${pkg}@${version}\n`)
  }
  return { suite, pkg, version, work, pkgDir, files: testFiles(join(pkgDir, testDir)) }
}

function runFile (prepared, file, scenario, only = []) {
  const out = join(prepared.work, `result-${scenario}${only.length > 0 ? '-rest' : ''}-${relative(prepared.pkgDir, file).replaceAll('/', '_')}.jsonl`)
  rmSync(out, { force: true })
  const started = Date.now()
  return new Promise((resolvePromise) => {
    const child = spawn(process.execPath, [
      '--test', `--test-timeout=${scenario === 'reject' ? REJECT_TEST_TIMEOUT_MS : SUITES[prepared.suite].testTimeoutMs}`,
      // A peer test that fails (with the gate's 503) skips its own cleanup and leaves its server
      // listening, so its file would never exit: in reject, end the file once its tests are done.
      ...(scenario === 'reject' ? ['--test-force-exit'] : []),
      `--test-reporter=${join(here, 'reporter.mjs')}`, `--test-reporter-destination=${out}`,
      ...only.map((name) => `--test-name-pattern=^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`),
      file
    ], {
      cwd: prepared.pkgDir,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        NODE_PATH: [join(prepared.work, 'extra', 'node_modules'), join(repo, 'node_modules')].join(delimiter),
        NODE_OPTIONS: '',
        COMPAT_SCENARIO: scenario,
        COMPAT_SUITE: prepared.suite,
        COMPAT_REAL_FASTIFY: repoRequire.resolve('fastify'),
        COMPAT_PLUGIN: join(prepared.pkgDir, 'index.js'),
        COMPAT_READINESS: join(repo, 'dist', 'index.js')
      }
    })
    let output = ''
    child.stdout.on('data', (chunk) => { output += chunk })
    child.stderr.on('data', (chunk) => { output += chunk })
    let hung = false
    const timer = setTimeout(() => { hung = true; try { process.kill(-child.pid, 'SIGKILL') } catch {} }, SUITES[prepared.suite].fileTimeoutMs)
    child.on('close', (code) => {
      clearTimeout(timer)
      const tests = existsSync(out)
        ? readFileSync(out, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line))
        : []
      resolvePromise({ file: relative(prepared.pkgDir, file), code, hung, ms: Date.now() - started, tests, output })
    })
  })
}

/** Runs one suite in the given scenarios; returns per-scenario results and the verdicts. */
export async function runSuite (suite, scenarios = SUITES[suite].scenarios, log = console.log) {
  const prepared = prepare(suite)
  const allow = REJECT_ALLOWLIST[suite]
  const results = []
  const known = new Map() // file -> test names seen so far in this run, to name the tests a hang swallowed
  for (const scenario of scenarios) {
    const started = Date.now()
    const files = []
    for (const file of prepared.files) {
      let run = await runFile(prepared, file, scenario)
      // Some peer tests assert on event-loop timings, which a shared 2-core CI machine upsets now and
      // then: a file with failures runs once more, and the retry says so. A break of ours fails twice.
      const allowed = (t) => scenario === 'reject' && allow.has(`${run.file} > ${t.name}`) && /\b503\b/.test(t.error ?? '')
      if (!run.hung && run.tests.some((t) => t.status === 'fail' && t.failureType !== 'testTimeoutFailure' && !allowed(t))) {
        const first = run.tests.filter((t) => t.status === 'fail').map((t) => t.name)
        const again = await runFile(prepared, file, scenario)
        const still = new Set(again.tests.filter((t) => t.status === 'fail').map((t) => t.name))
        const flaky = first.filter((name) => !still.has(name))
        if (flaky.length > 0) log(`  RETRIED ${run.file} [${scenario}]: passed the second time: ${flaky.join('; ')}`)
        run = again
      }
      files.push(run)
    }
    // A file a hang cut short in reject: its later tests run once more on their own, by name, so the
    // regression net still covers them (node:test skips the tests the patterns do not name).
    for (const f of files) {
      if (scenario !== 'reject' || !WAITS_FOR_A_FRAME_AFTER_503.has(f.file)) continue
      const seen = new Set(f.tests.map((t) => t.name))
      const rest = [...(known.get(f.file) ?? [])].filter((name) => !seen.has(name) && name !== WAITS_FOR_A_FRAME_AFTER_503.get(f.file))
      if (rest.length === 0) continue
      const again = await runFile(prepared, join(prepared.pkgDir, f.file), scenario, rest)
      const wanted = new Set(rest)
      const ran = again.tests.filter((t) => wanted.has(t.name) && t.status !== 'skip')
      f.tests.push(...ran)
      log(`  RAN THE REST ${f.file} [reject]: ${ran.length} of the ${rest.length} tests the hang cut short`)
    }
    const missing = []
    for (const f of files) {
      const names = new Set(f.tests.map((t) => t.name))
      for (const name of known.get(f.file) ?? []) if (!names.has(name)) missing.push(`${f.file} > ${name}`)
      known.set(f.file, new Set([...(known.get(f.file) ?? []), ...names]))
    }
    const tests = files.flatMap((f) => f.tests.map((t) => ({ ...t, id: `${f.file} > ${t.name}` })))
    const count = (status) => tests.filter((t) => t.status === status).length
    const failed = tests.filter((t) => t.status === 'fail')
    const problems = []
    for (const f of files) {
      if (f.hung) problems.push(`${f.file} hung and was killed after ${SUITES[suite].fileTimeoutMs} ms`)
      else if (f.tests.length === 0) problems.push(`${f.file} reported no tests (exit ${f.code}):\n${f.output.slice(-1500)}`)
    }
    for (const t of failed) {
      const file = t.id.split(' > ')[0]
      if (t.failureType === 'testTimeoutFailure' && scenario === 'reject' && WAITS_FOR_A_FRAME_AFTER_503.has(file)) {
        log(`  ENDED BY TIMEOUT (expected) ${file}: "${WAITS_FOR_A_FRAME_AFTER_503.get(file)}" waits for a frame after the gate's 503; the file's later tests ran on their own`)
        continue
      }
      if (t.failureType === 'testTimeoutFailure') { problems.push(`${t.id} hung (node:test timeout ${SUITES[suite].testTimeoutMs} ms)`); continue }
      if (scenario !== 'reject') { problems.push(`${t.id} failed`); continue }
      if (!(allow.has(t.id))) problems.push(`${t.id} failed and is not in the reject allowlist`)
      else if (!/\b503\b/.test(t.error ?? '')) problems.push(`${t.id} is allowed to fail with 503 only, failed with: ${(t.error ?? '').split('\n')[0]}`)
    }
    const result = {
      suite,
      pkg: prepared.pkg,
      version: prepared.version,
      scenario,
      total: tests.length,
      pass: count('pass'),
      fail: failed.length,
      skip: count('skip') + count('todo'),
      ms: Date.now() - started,
      failed,
      missing,
      problems
    }
    results.push(result)
    log(`compat ${result.pkg}@${result.version} [${scenario}]: ${result.total} tests, ${result.pass} passed, ${result.fail} failed, ${result.skip} skipped (${(result.ms / 1000).toFixed(1)} s)`)
    for (const t of failed) log(`  FAIL ${t.id}${scenario === 'reject' && allow.has(t.id) ? ' (allowed)' : ''}: ${(t.error ?? '').split('\n')[0]}`)
    if (missing.length > 0) log(`  NOT REPORTED (cut short by a hang): ${missing.join('; ')}`)
    for (const p of problems) log(`  PROBLEM ${p}`)
  }
  return results
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const suites = process.argv.slice(2).length > 0 ? process.argv.slice(2) : Object.keys(SUITES)
  const scenarios = process.env.COMPAT_SCENARIOS ? process.env.COMPAT_SCENARIOS.split(',') : undefined
  let bad = 0
  for (const suite of suites) for (const r of await runSuite(suite, scenarios)) bad += r.problems.length
  process.exitCode = bad === 0 ? 0 : 1
}
