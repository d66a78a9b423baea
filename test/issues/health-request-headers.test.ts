import t from 'tap'
import { bearerToken } from '../../index.js'
import { suiteOnly } from '../helpers/app.js'
import { listen, until } from '../helpers/net.js'

// Audit: bearerToken refused `bearer` (RFC 7235: the scheme is
// case-insensitive), and any Accept header containing the substring
// "application/health+json" got health+json, `application/health+jsonx;q=0` included.

const TOKEN = 'a-shared-secret-of-32-characters'

t.test('the auth scheme is case-insensitive; the token is not', async (t) => {
  const app = await suiteOnly(t, { probes: { db: async () => {} }, health: { details: bearerToken(TOKEN) } })
  const { http } = await listen(app)
  await until(() => app.readiness.isReady())
  const detailed = async (authorization: string): Promise<boolean> =>
    'probes' in (await (await fetch(`${http}/health/ready`, { headers: { authorization } })).json() as object)
  for (const scheme of ['Bearer', 'bearer', 'BEARER', 'bEaReR']) t.ok(await detailed(`${scheme} ${TOKEN}`), `${scheme}: details`)
  t.ok(await detailed(`Bearer   ${TOKEN}`), 'several spaces')
  t.notOk(await detailed(`Bearer ${TOKEN.toUpperCase()}`), 'a token in other case is another token')
  t.notOk(await detailed(`Bearerx ${TOKEN}`), 'another scheme')
  t.notOk(await detailed(`Basic ${TOKEN}`), 'another scheme')
})

t.test('Accept is parsed as media types with qualities', async (t) => {
  for (const format of ['json', 'health+json'] as const) {
    const app = await suiteOnly(t, { probes: { db: async () => {} }, health: { format } })
    const { http } = await listen(app)
    await until(() => app.readiness.isReady())
    const served = async (accept: string): Promise<string> =>
      (await fetch(`${http}/health/ready`, { headers: { accept } })).headers.get('content-type')?.split(';')[0] ?? ''
    const fallback = format === 'json' ? 'application/json' : 'application/health+json'
    const cases: Array<[string, string]> = [
      ['application/health+json', 'application/health+json'],
      ['Application/Health+JSON', 'application/health+json'],
      ['application/json;q=0.5, application/health+json', 'application/health+json'],
      ['application/health+jsonx;q=0', fallback],
      ['application/health+jsonx', fallback],
      ['application/health+json;q=0, application/json', 'application/json'],
      ['application/health+json;q=0.2, application/json;q=0.9', 'application/json'],
      ['application/json', 'application/json'],
      // Refused, and nothing else named: there is nothing better to serve than the default.
      ['application/health+json;q=0', fallback],
      ['*/*', fallback]
    ]
    for (const [accept, expected] of cases) t.equal(await served(accept), expected, `default ${format}, Accept: ${accept}`)
  }
})
