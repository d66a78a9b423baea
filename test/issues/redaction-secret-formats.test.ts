import t from 'tap'
import Fastify from 'fastify'
import readiness from '../../index.js'
import { redactMessage } from '../../lib/redact.js'
import { listen, until } from '../helpers/net.js'

// Audit: formats the redactor missed. Each secret must be gone, and a `***` show where it was.
const cases: Array<[string, string, string]> = [
  ['PEM key on one line', 'bad key -----BEGIN RSA PRIVATE KEY----- MIIEowIBAAKCAQEAs3cretPEMbody -----END RSA PRIVATE KEY-----', 'PEMbody'],
  ['PEM key with \\n escapes', 'bad key "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgs3cretPEMbody\\nmore==\\n-----END PRIVATE KEY-----"', 'PEMbody'],
  ['encrypted PEM with headers', '-----BEGIN ENCRYPTED PRIVATE KEY-----\\nProc-Type: 4,ENCRYPTED\\nDEK-Info: AES-128-CBC,ABCD\\n\\ns3cretPEMbody', 'PEMbody'],
  ['@ in the URL user name (Azure)', 'postgres://admin@myserver:s3cretPW@myserver.postgres.database.azure.com:5432/db', 's3cretPW'],
  ['mysql -p<password>', 'command failed: mysql -uroot -ps3cretPW -h db', 's3cretPW'],
  ['--password <value>', 'mysqldump --user app --password s3cretPW app', 's3cretPW'],
  ['--password=<value>', 'pg_dump --password=s3cretPW', 's3cretPW'],
  ['--db-token <value>', 'run --db-token s3cretPW now', 's3cretPW'],
  ['npm token', 'npm ERR! 401 npm_s3cretPWabcdefghijklmnopqrstuvwxyz01', 's3cretPW'],
  ['Slack webhook URL', 'POST https://hooks.slack.com/services/T0000/B0000/s3cretPWXXXXXXXX failed', 's3cretPW'],
  ['GitHub ghp_ token', 'token ghp_s3cretPW0123456789abcdefghij rejected', 's3cretPW'],
  ['GitHub gho_ token', 'gho_s3cretPW0123456789abcdefghij expired', 's3cretPW'],
  ['GitHub fine-grained token', 'github_pat_11AAAAAAA0s3cretPW_abcdefghijklmnopqrstuvwxyz', 's3cretPW'],
  ['AWS secret after its key id', 'key AKIAIOSFODNN7EXAMPLE secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', 'wJalrXUtnFEMI'],
  ['AWS secret before its key id', 'creds wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY:AKIAIOSFODNN7EXAMPLE', 'wJalrXUtnFEMI']
]

for (const [label, message, secret] of cases) {
  t.test(`${label} is masked`, async (t) => {
    const out = redactMessage(message)
    t.notOk(out.includes(secret), `${JSON.stringify(message)} -> ${JSON.stringify(out)}`)
    t.match(out, /\*\*\*/)
  })
}

t.test('readable text near those shapes is kept', async (t) => {
  for (const message of [
    'GET https://registry.npmjs.org/@fastify/websocket 404',
    'mkdir -p /var/run/app failed',
    'ssh -p2222 host refused',
    'commit 9fceb02d0ae598e95dc970b74767f19372d61af8 is not deployed',
    'see https://github.com/fastify/fastify/issues/1'
  ]) t.equal(redactMessage(message), message)
})

t.test('the keys of a result\'s details are redacted, not only the values', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(readiness, {
    shutdown: false,
    metrics: false,
    health: { details: 'always' },
    probes: { db: async () => ({ status: 'warn', details: { 'postgres://app:s3cretPW@db/app': 'up', [`npm_s3cretPW${'a'.repeat(30)}`]: 1, plain: 'kept' } }) }
  })
  const { http } = await listen(app)
  await until(() => app.readiness.status().probes.db?.status === 'warn')
  const text = await (await fetch(`${http}/health/ready`)).text()
  t.notMatch(text, /s3cretPW/, 'no secret in the body')
  t.match(JSON.parse(text).probes.db.details, { 'postgres://***@db/app': 'up', plain: 'kept' })
})
