import t from 'tap'
import { bearerToken, ReadinessOptionError } from '../../index.js'
import { suiteOnly } from '../helpers/app.js'

// Issue 27: the docs wrote `bearerToken(process.env.STATUS_TOKEN)`, which did not
// compile under strict (string | undefined where a string was required), so a
// reader added `!` and an unset variable surfaced as a vague "got undefined".
// The type now takes undefined and the error says what is missing.

t.test('an unset or empty token fails at once, saying so', async (t) => {
  for (const value of [undefined, '']) {
    const err = (() => { try { bearerToken(value); return null } catch (e) { return e } })()
    t.type(err, ReadinessOptionError, `${JSON.stringify(value)}: a ReadinessOptionError`)
    t.match((err as Error).message, /bearerToken.*needs a token.*environment variable/, 'naming the function and the likely cause')
  }
  t.throws(() => bearerToken('short'), /at least 16 characters/, 'a short token is still refused')
})

t.test('a token from the environment works as a details policy', async (t) => {
  process.env.SURFACES_TEST_TOKEN = 'a-long-shared-secret-token'
  t.teardown(() => { delete process.env.SURFACES_TEST_TOKEN })
  const app = await suiteOnly(t, { probes: { db: async () => {} }, health: { details: bearerToken(process.env.SURFACES_TEST_TOKEN) } })
  await app.ready()
  const anonymous = await app.inject('/health/ready')
  const admitted = await app.inject({ url: '/health/ready', headers: { authorization: 'Bearer a-long-shared-secret-token' } })
  t.notOk('probes' in anonymous.json() || 'checks' in anonymous.json(), 'anonymous: status only')
  t.not(admitted.body, anonymous.body, 'the token sees details')
})
