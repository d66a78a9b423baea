// The published test suite of the peer package, run unchanged with fastify-readiness registered after
// every registration of it (issue 12). See run.mjs for how, and for the reject allowlist.
import t from 'tap'
import { runSuite } from './run.mjs'

t.setTimeout(12 * 60_000)

const results = await runSuite('websocket', undefined, (line) => t.comment(line))
for (const r of results) {
  t.same(r.problems, [], `${r.pkg}@${r.version} [${r.scenario}]: ${r.pass}/${r.total} passed, ${r.fail} failed, ${r.skip} skipped`)
}
t.ok(results.every((r) => r.total > 0), 'every scenario ran tests')
