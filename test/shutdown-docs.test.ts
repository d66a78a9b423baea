import t from 'tap'
import { readFileSync } from 'node:fs'
import { computeBudget } from '../lib/startup/budget.js'
import { detectPlatform } from '../lib/startup/platform.js'
import { shutdownSettings, shutdownWarnings } from '../lib/shutdown/defaults.js'

// The platform docs' numbers, recomputed with the suite's own code: a doc whose example would warn (or be
// killed by its own probe) on the platform it describes fails here.

const doc = (name: string): string => readFileSync(new URL(`../docs/${name}`, import.meta.url), 'utf8')
const num = (text: string, pattern: RegExp, what: string): number => {
  const match = pattern.exec(text)
  if (match?.[1] === undefined) throw new Error(`${what} not found`)
  return Number(match[1].replace(/_/g, ''))
}

function startupNumbers (text: string) {
  const probe = /startupProbe:[\s\S]*?periodSeconds: (\d+)[\s\S]*?failureThreshold: (\d+)/.exec(text)
  const snippet = /startup: \{ startupProbe: \{ periodSeconds: (\d+), failureThreshold: (\d+) \} \}/.exec(text)
  const phases = [...text.matchAll(/(\w+): \{ [^}]*timeoutMs: ([\d_]+) \}/g)].map((m) => Number(m[2]!.replace(/_/g, '')))
  return { yaml: [Number(probe?.[1]), Number(probe?.[2])], snippet: [Number(snippet?.[1]), Number(snippet?.[2])], phases }
}

for (const [file, env] of [['kubernetes.md', { KUBERNETES_SERVICE_HOST: '10.0.0.1', NODE_ENV: 'production' }], ['cloud-run.md', { K_SERVICE: 'chat', NODE_ENV: 'production' }]] as const) {
  t.test(`docs/${file}: the startup budget fits the startup probe the snippet passes`, async (t) => {
    const text = doc(file)
    const { yaml, snippet, phases } = startupNumbers(text)
    t.same(snippet, yaml, 'the snippet passes the same startupProbe as the manifest')
    t.equal(phases.length, 2, 'two chained phases with explicit timeouts')
    const platform = detectPlatform(env)
    const budget = computeBudget({ criticalPathMs: phases.reduce((a, b) => a + b, 0), criticalPath: ['dependencies', 'websocket'], platform, env: {}, probe: { periodSeconds: yaml[0]!, failureThreshold: yaml[1]! } })
    t.same(budget.warnings, [], `budget ${budget.budgetMs} ms fits ${yaml[0]! * yaml[1]!} s`)
    t.match(text, `**${phases.reduce((a, b) => a + b, 0) / 1000} s x ${1 + budget.margin} = ${budget.budgetMs / 1000} s**`, 'the doc states the computed budget')
    t.match(text, "host: '0.0.0.0'", 'binds every interface')
    t.match(text, 'process.env.PORT', 'and reads PORT')
  })
}

t.test('docs/kubernetes.md: delay + drain fit the grace period, and the timeline adds up', async (t) => {
  const text = doc('kubernetes.md')
  const grace = num(text, /terminationGracePeriodSeconds: (\d+)/, 'terminationGracePeriodSeconds')
  const delay = num(text, /shutdown: \{ delayMs: ([\d_]+)/, 'shutdown.delayMs')
  const spread = num(text, /drainSpreadMs: ([\d_]+)/, 'drainSpread')
  const drainTimeout = num(text, /drainTimeoutMs: ([\d_]+)/, 'drainTimeout')
  const settings = shutdownSettings({ platform: 'kubernetes', env: {}, delay, gracePeriodSeconds: grace })
  t.same(shutdownWarnings({ settings, drainBudgetMs: spread + drainTimeout }), [], 'no warning at start')
  t.match(text, `| ≤ ${(delay + spread + drainTimeout) / 1000} | every socket is closed (${delay / 1000} + ${spread / 1000} + ${drainTimeout / 1000})`, 'the timeline names when every socket is closed')
  t.match(text, `| ${settings.timeout / 1000} | \`shutdown.timeoutMs\``, `the timeline names the computed timeout (${settings.timeout} ms)`)
  t.match(text, `| ${grace} | SIGKILL`, 'and the SIGKILL')
})

t.test('docs/cloud-run.md: the drain fits Cloud Run\'s 10 s with the default timeout', async (t) => {
  const text = doc('cloud-run.md')
  const spread = num(text, /drainSpreadMs: ([\d_]+)/, 'drainSpread')
  const drainTimeout = num(text, /drainTimeoutMs: ([\d_]+)/, 'drainTimeout')
  const settings = shutdownSettings({ platform: 'cloud-run', env: {} })
  t.same(shutdownWarnings({ settings, drainBudgetMs: spread + drainTimeout }), [], 'no warning at start')
  t.ok(settings.delay + spread + drainTimeout < settings.timeout, 'delay + drain inside the timeout')
  t.match(text, `0 + ${spread / 1000} + ${drainTimeout / 1000} = ${(spread + drainTimeout) / 1000} s`, 'the doc states the sum')
  t.match(text, `shutdown.timeoutMs\` of ${settings.timeout / 1000} s`, 'and the computed timeout')
})
