// Redaction time for hostile single-line error messages (issue 16): a long
// token, a base64 body, an HTML body, a URL scheme followed by a long token,
// repeated secret keys. Runnable alone: `npm run build && node bench/hostile-redaction.js`
// (BENCH_QUICK=1: fewer repetitions). The pre-fix redactor took ~70 ms at
// 10 KB, 7-9 s at 100 KB and did not finish 1 MB in 100 s.
import { redactMessage } from '../dist/lib/redact/index.js'
import { redactError } from '../dist/lib/redact/index.js'

const KB = 1024
const shapes = (size) => ({
  'long token': 'a'.repeat(size),
  'URL scheme + long token': `postgres://${'a'.repeat(size)}`,
  base64: Buffer.alloc(Math.ceil(size * 3 / 4), 0x5a).toString('base64').slice(0, size),
  html: '<div class="row">'.repeat(Math.ceil(size / 17)).slice(0, size),
  'repeated DB_PASSWORD=': 'DB_PASSWORD='.repeat(Math.ceil(size / 12)).slice(0, size),
  'scheme + many @': `a://x:${'@'.repeat(size)}`,
  // Longer inputs are cut to the 8 KB scan window: this shape is worst just below it (see below).
  'scheme + colons + word': `x://${':'.repeat(Math.min(size, 8 * KB) - 9)} tail`
})

// The redactor before the fix (quadratic on a long run of [a-z0-9+.-]), measured
// live at small sizes only: 100 KB takes 7-35 s and 1 MB does not finish.
const OLD_URL = /([a-z][a-z0-9+.-]*:\/\/)([^\s/@:]*)(?::[^\s/@]*)?@/gi
const OLD_KV = /\b(password|passwd|pwd|secret|token|api[-_]?key|access[-_]?key|auth)(\s*[=:]\s*)("[^"]*"|'[^']*'|[^\s,;&]+)/gi
function oldRedact (message) {
  const line = message.split('\n', 1)[0] ?? ''
  return line.replace(OLD_URL, '$1***@').replace(OLD_KV, '$1$2***').slice(0, 300)
}

// The URL pattern of 0.2 (after the issue 16 fix): linear from each start, but it
// backtracked over every split of `user:password`, quadratic within the window.
const PREVIOUS_URL = /(?<![a-z0-9+.-])([a-z][a-z0-9+.-]{0,30}:\/\/)[^\s/@]*(?::[^\s]*)?@(?=[^\s@]*(?:\s|$))/gi

function time (fn, reps) {
  fn() // warm-up: the first call pays for compiling the patterns
  let worst = 0
  let total = 0
  for (let i = 0; i < reps; i++) {
    const started = performance.now()
    fn()
    const ms = performance.now() - started
    worst = Math.max(worst, ms)
    total += ms
  }
  return { mean: total / reps, worst }
}

export async function hostileRedaction () {
  const reps = process.env.BENCH_QUICK === '1' ? 3 : 20
  const rows = []
  for (const [label, size, target] of [['10 KB', 10 * KB, 5], ['100 KB', 100 * KB, 10], ['1 MB', 1024 * KB, 50]]) {
    let worstShape = ''
    let worst = { mean: 0, worst: 0 }
    for (const [shape, message] of Object.entries(shapes(size))) {
      const r = time(() => redactError(new Error(message)), reps)
      if (r.worst > worst.worst) { worst = r; worstShape = shape }
    }
    rows.push({
      measure: `redaction of a ${label} single-line error message (worst of ${Object.keys(shapes(size)).length} hostile shapes)`,
      result: `mean ${worst.mean.toFixed(2)} ms, max ${worst.worst.toFixed(2)} ms (${worstShape})`,
      target: `under ${target} ms`,
      met: worst.worst < target
    })
  }
  const oldSizes = process.env.BENCH_QUICK === '1' ? [10 * KB] : [10 * KB, 30 * KB]
  const before = oldSizes.map((size) => {
    const started = performance.now()
    oldRedact('a'.repeat(size))
    return `${size / KB} KB ${Math.round(performance.now() - started)} ms`
  })
  const nowMs = oldSizes.map((size) => time(() => redactMessage('a'.repeat(size)), 3).worst)
  const now = oldSizes.map((size, i) => `${size / KB} KB ${nowMs[i].toFixed(2)} ms`)
  // Linear: three times the input costs at most about three times as much (plus timer noise), where the old
  // redactor's cost grew with the square.
  const linear = nowMs.length < 2 || nowMs[1] <= 3 * nowMs[0] * 1.5 + 0.05
  rows.push({ measure: 'redaction of one long token, before vs after the fix (same machine, same run)', result: `before: ${before.join(', ')}; after: ${now.join(', ')}`, target: 'linear', met: linear })
  // The worst shape inside the window, a scheme then 8150 colons then a word: every
  // /health/ready with exposeNames re-redacted it per failed phase before 0.3.
  const colons = `x://${':'.repeat(8150)} tail`
  const previous = time(() => colons.replace(PREVIOUS_URL, '$1***@'), 3).worst
  const current = time(() => redactMessage(colons), reps).worst
  rows.push({ measure: 'redaction of a scheme + 8150 colons + a word (8 KB, inside the scan window), before vs after', result: `before (URL pattern alone): ${previous.toFixed(1)} ms; after (whole redactor): ${current.toFixed(2)} ms`, target: 'under 5 ms', met: current < 5 })
  // The stored message stays bounded whatever the input.
  const longest = Math.max(...Object.values(shapes(1024 * KB)).map((m) => redactMessage(m).length))
  rows.push({ measure: 'stored message length after redaction (1 MB inputs)', result: `${longest} characters`, target: 'at most 301', met: longest <= 301 })
  return rows
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const row of await hostileRedaction()) console.log(`${row.measure}: ${row.result} [target ${row.target}: ${row.met ? 'met' : 'MISSED'}]`)
}
