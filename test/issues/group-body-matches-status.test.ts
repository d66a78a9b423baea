import t from 'tap'
import { suiteOnly } from '../helpers/app.js'
import { getJson, listen, until } from '../helpers/net.js'

// Audit: a group that excludes the failing db answered HTTP 200 with
// {"status":"fail","ready":false,...}: the app-wide snapshot's status
// overwrote the group's verdict in the detailed body.

t.test('a group\'s detailed body says what its status code says', async (t) => {
  const app = await suiteOnly(t, {
    probes: { db: async () => { throw new Error('down') }, cache: async () => {} },
    health: { details: 'always', groups: { nodb: { exclude: ['db'], additionalPath: '/readyz' }, onlydb: ['db'] } }
  })
  const { http } = await listen(app)
  await until(() => app.readiness.status().probes.db?.status === 'fail' && app.readiness.status().probes.cache?.status === 'pass')
  for (const path of ['/health/ready/nodb', '/readyz']) {
    const res = await getJson(`${http}${path}`)
    t.equal(res.status, 200, `${path} is 200`)
    t.match(res.body, { status: 'pass', ready: true, missing: [] }, `${path}: the body agrees`)
    const health = await getJson(`${http}${path}`, { headers: { accept: 'application/health+json' } })
    t.equal(health.body.status, 'pass', `${path} health+json agrees`)
  }
  for (const path of ['/health/ready/onlydb', '/health/ready']) {
    const res = await getJson(`${http}${path}`)
    t.equal(res.status, 503, `${path} is 503`)
    t.match(res.body, { status: 'fail', ready: false, missing: ['db'] }, `${path}: the body agrees`)
  }
})
