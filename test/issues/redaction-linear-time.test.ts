import t from 'tap'
import { redactMessage, MAX_LENGTH } from '../../lib/redact.js'
import { Probe } from '../../lib/probe.js'
import { parseProbe } from '../../lib/probe-options.js'

// Issue 16: redaction was quadratic (100 KB took 7-9 s, 1 MB never finished).
// No timed assertion here (bench/hostile-redaction.js measures): the test runs
// the worst shapes at 1 MB, which would not finish within tap's timeout if
// redaction were quadratic again, and checks the stored message is bounded.
const MB = 1024 * 1024
const shapes: Array<[string, string]> = [
  ['one long token', 'a'.repeat(MB)],
  ['a URL scheme then a long token', `postgres://${'a'.repeat(MB)}`],
  ['repeated secret keys', 'DB_PASSWORD='.repeat(MB / 12)],
  ['repeated at-signs after a scheme', `a://x:${'@'.repeat(MB)}`],
  ['slash-separated path', 'a/'.repeat(MB / 2)],
  ['base64 body', Buffer.alloc(MB * 3 / 4, 7).toString('base64')],
  ['html body', '<div class="x">'.repeat(MB / 15)],
  ['spaces then a word', `${' '.repeat(MB)}x`]
]

t.test('1 MB single-line messages of hostile shapes are redacted to a bounded message', async (t) => {
  for (const [label, message] of shapes) {
    const out = redactMessage(message)
    t.ok(out.length <= MAX_LENGTH + 1, `${label}: ${out.length} characters kept`)
  }
})

t.test('a probe failing with a 1 MB message stores a bounded, redacted message', async (t) => {
  const secret = `connect postgres://app:s3cret@db.internal/app ${'x'.repeat(MB)}`
  const probe = new Probe('db', parseProbe('probes.db', () => { throw new Error(secret) }), () => {})
  t.equal(await probe.run(), 'fail')
  const message = probe.snapshot().lastError?.message ?? ''
  t.ok(message.length <= MAX_LENGTH + 1)
  t.notMatch(message, /s3cret/)
  t.match(message, /postgres:\/\/\*\*\*@db\.internal/)
})

t.test('a secret cut by the scan window is dropped, not half-shown', async (t) => {
  const out = redactMessage(`${'***** '.repeat(2000)}postgres://app:${'s'.repeat(20_000)}@db`)
  t.notMatch(out, /ss/)
})
