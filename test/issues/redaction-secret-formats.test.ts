import t from 'tap'
import Fastify from 'fastify'
import readiness from '../../index.js'
import { redactMessage } from '../../lib/redact/index.js'
import { toJsonSafe } from '../../lib/probes/result.js'
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
  ['AWS secret before its key id', 'creds wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY:AKIAIOSFODNN7EXAMPLE', 'wJalrXUtnFEMI'],
  // Hostile trial: leaks left by the first fix.
  ['the second cookie of a Cookie header', 'Cookie: theme=dark; sid=s3cretPWsession', 's3cretPW'],
  ['every cookie of a Cookie header', 'cookie: _ga=GA1.2; connect.sid=s%3As3cretPW.sig; csrftoken=s3cretPWcsrf', 's3cretPW'],
  ['a JSON array under set-cookie', '{"set-cookie":["connect.sid=s%3As3cretPW.xyz; Path=/"]}', 's3cretPW'],
  ['a JSON array under authorization', '{"authorization":["Bearer s3cretPWabcdefgh"]}', 's3cretPW'],
  ['Azure AccountKey (base64 with ==)', 'DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFs3cretPW==;EndpointSuffix=core.windows.net', 's3cretPW'],
  ['Azure SAS sig=', 'https://acct.blob.core.windows.net/c/b?sv=2021-08-06&sig=AbCdEf%2Bs3cretPW%3D&se=2025', 's3cretPW'],
  ['Google key=AIza...', 'https://maps.googleapis.com/maps/api/geocode/json?key=AIzaSyD-s3cretPWhijklmnopqrstuvwxyz123', 's3cretPW'],
  ['a bare Google API key', 'API key not valid AIzaSyD-s3cretPWhijklmnopqrstuvwxyz123', 's3cretPW'],
  ['a bare Basic <base64>', 'Authorization failed: Basic dXNlcjpzM2NyZXRQVw==', 'dXNlcjpzM2NyZXRQVw'],
  ['Oracle thin URL user/password@host', 'jdbc:oracle:thin:app/s3cretPW@db:1521/ORCL', 's3cretPW'],
  ['a quoted value over 4096 characters', `{"token":"s3cretPW${'A'.repeat(5000)}"}`, 's3cretPW'],
  ['an escaped JSON string inside a string', '"{\\"password\\":\\"s3cretPW\\"}"', 's3cretPW'],
  ['auth=', 'GET /x?auth=s3cretPW', 's3cretPW'],
  ['pw: / sid= / jwt: / dsn=', 'pw: s3cretPW1 sid=s3cretPW2 jwt: s3cretPW3 dsn=s3cretPW4', 's3cretPW'],
  ['a password with / and @ before a host:port', 'mysql://root:p@s3cretPW/x@db:3306 refused', 's3cretPW'],
  ['a password with # before the host', 'postgres://app:s3#cretPW@db/app', 'cretPW'],
  ['an OpenAI key', 'Incorrect API key provided: sk-proj-s3cretPWijklmnopqrstuvwxyz0123456789', 's3cretPW'],
  ['a PGP private key block', '-----BEGIN PGP PRIVATE KEY BLOCK----- lQOYBF0s3cretPW -----END PGP PRIVATE KEY BLOCK-----', 's3cretPW']
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

t.test('a secret key carries its meaning whatever its value: two URLs in one token are two URLs', async (t) => {
  const out = redactMessage('{"primary":"postgres://a:s3cretA@db1.internal/app","replica":"postgres://b:s3cretB@db2.internal/app"}')
  t.equal(out, '{"primary":"postgres://***@db1.internal/app","replica":"postgres://***@db2.internal/app"}', 'each URL keeps its host')
})

t.test('the details of a result mask secret keys by their words, and objects under them whole', async (t) => {
  const safe = toJsonSafe({
    auth: 'admin:s3cretPW',
    pass: 's3cretPW',
    pw: 's3cretPW',
    sid: 's3cretPW',
    jwt: 's3cretPW',
    dsn: 's3cretPW',
    sessionId: 's3cretPW',
    accountKey: 's3cretPW',
    headers: { 'X-Auth': 's3cretPW', 'set-cookie': ['sid=s3cretPW'] },
    nested: { auth: { user: 'u', pass: 's3cretPW' } },
    host: 'db.internal',
    tokensUsed: 12,
    passed: 3,
    author: 'alice',
    keyCount: 9
  }) as Record<string, unknown>
  t.notMatch(JSON.stringify(safe), /s3cretPW/, JSON.stringify(safe))
  t.same((safe.nested as Record<string, unknown>).auth, '***', 'an object under a secret key goes whole')
  t.match(safe, { auth: '***', pass: '***', pw: '***', sid: '***', jwt: '***', dsn: '***', host: 'db.internal', tokensUsed: 12, passed: 3, author: 'alice', keyCount: 9 })
})
