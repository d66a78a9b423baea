import t from 'tap'
import { redactMessage } from '../../lib/redact/index.js'

// Issue 16: the redactor missed these formats.
const cases: Array<[string, string, string]> = [
  ['DB_PASSWORD=', 'config DB_PASSWORD=hunter2 loaded', 'hunter2'],
  ['PGPASSWORD=', 'env PGPASSWORD=hunter2 set', 'hunter2'],
  ['JSON "password"', '{"user":"app","password":"hunter2"}', 'hunter2'],
  ['JSON "password" with spaces and escapes', '{ "password" : "hun\\"ter2" }', 'ter2'],
  ['Authorization: Bearer', 'request failed: Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig', 'payload'],
  ['bare Bearer token', 'header was Bearer abcdef0123456789', 'abcdef0123456789'],
  ['client_secret=', 'POST /token client_secret=shhh123&grant_type=x', 'shhh123'],
  ['AWS_SECRET_ACCESS_KEY=', 'AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCY', 'wJalr'],
  ['password with @', 'connect postgres://app:p@ssw0rd@db:5432/app', 'ssw0rd'],
  ['password with /', 'connect postgres://app:pa/ss@db:5432/app', 'pa/ss'],
  ['Oracle user/password@service', 'ORA-12541 connecting app/s3cret@ORCL', 's3cret'],
  ['redis URL without user', 'redis://:hunter2@cache:6379 refused', 'hunter2'],
  ['x-api-key header', 'x-api-key: k_12345 rejected', 'k_12345'],
  ['apikey query parameter', 'GET /v1?apikey=abc123&x=1', 'abc123'],
  ['access_token', 'access_token=ya29.abc expired', 'ya29'],
  ['refresh_token in JSON', '{"refresh_token":"1//0gabc"}', '0gabc'],
  ['private_key', 'private_key: MIIEvQIBADANBg', 'MIIEvQ'],
  ['AWS access key id by shape', 'used key AKIAIOSFODNN7EXAMPLE', 'AKIAIOSFODNN7EXAMPLE'],
  ['GitHub token by shape', 'token ghp_abcdefghijklmnopqrstuvwxyz0123456789 bad', 'ghp_abcdef'],
  ['JWT by shape', 'jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl rejected', 'eyJzdWIiOiIxIn0'],
  ['Stripe key by shape', 'sk_live_abcdefghijklmnop invalid', 'abcdefghijklmnop'],
  ['cookie', 'Cookie: sid=abc123; theme=dark', 'abc123'],
  ['password key with quotes', "password='hunter2'", 'hunter2']
]

for (const [label, message, secret] of cases) {
  t.test(`${label} is masked`, async (t) => {
    const out = redactMessage(message)
    t.notOk(out.includes(secret), `${JSON.stringify(message)} -> ${JSON.stringify(out)}`)
    t.match(out, /\*\*\*/)
  })
}

t.test('ordinary driver messages are kept readable', async (t) => {
  for (const message of [
    'connect ECONNREFUSED 127.0.0.1:5432',
    'password authentication failed for user "app"',
    'SASL: SCRAM-SERVER-FIRST-MESSAGE: client password must be a string',
    'getaddrinfo ENOTFOUND db.internal',
    'Connection terminated due to connection timeout'
  ]) t.equal(redactMessage(message), message)
})
