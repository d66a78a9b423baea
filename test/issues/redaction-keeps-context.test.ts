import t from 'tap'
import { redactMessage } from '../../lib/redact/index.js'

// Hostile trial: over-redaction that misleads. The URL pass masked from the
// first `://` to the last `@` of a token (an email in the query pointed the
// reader at the wrong host, two URLs in one JSON token merged); status words
// and error codes after secret-looking words vanished; keys that merely
// contain a secret word (`passed`, `bypass`) and one-dash options after
// `mysql` were masked; `--password-stdin` took the next word as its value.

t.test('the message is kept as it is', async (t) => {
  for (const message of [
    'GET http://localhost:3000/users?email=alice@example.com failed: ECONNREFUSED',
    'GET https://api.example.com:8443/@me 500',
    'https://example.com/a?redirect=https://b.com/@x',
    'https://example.com/users/@alice/posts failed',
    "ER_ACCESS_DENIED_ERROR: Access denied for user 'root'@'10.0.0.7' (using password: NO)",
    "Access denied for user 'root'@'localhost' (using password: YES)",
    'Error: Invalid token: ECONNRESET',
    'authentication: ECONNREFUSED 10.0.0.1:443',
    'credentials: ENOENT /home/app/.aws/credentials',
    'token: expired',
    'auth: failed after 3 attempts',
    'jwt: invalid',
    'password: null',
    'secret: undefined',
    'passed: 3, failed: 2',
    'bypass=true',
    'compass: north',
    'tokensUsed: 12',
    'author: alice',
    'api_key_id: 12345 not found',
    'mysql: ER_ACCESS_DENIED_ERROR -port 3306 -production',
    'mysql connect failed at /srv/app -path=/x',
    'mysql -protocol=tcp failed',
    'docker login --password-stdin failed',
    '--token-file /run/token failed',
    'Basic authentication failed',
    'postgres://db.internal/app?target_session_attrs=read-write'
  ]) t.equal(redactMessage(message), message)
})

t.test('only the userinfo of a URL goes: the host, path and query stay', async (t) => {
  t.equal(redactMessage('http://u:s3cret@h/x?e=a@b.com'), 'http://***@h/x?e=a@b.com')
  t.equal(redactMessage('{"a":"postgres://app:s3cret@db/app","email":"x@y.com"}'), '{"a":"postgres://***@db/app","email":"x@y.com"}')
  t.equal(redactMessage('hosts:postgres://a:s3cret@db1,postgres://b:s3cret2@db2'), 'hosts:postgres://***@db1,postgres://***@db2')
  t.equal(redactMessage('connect postgres://app:pa/ss@db:5432/app'), 'connect postgres://***@db:5432/app')
})

t.test('a secret value is still masked next to those words', async (t) => {
  t.equal(redactMessage('mysql -uroot -ps3cret -h db'), 'mysql -uroot -p*** -h db')
  t.equal(redactMessage('mysql -h db -ps3cret app'), 'mysql -h db -p*** app')
  t.equal(redactMessage('token: s3cretvalue'), 'token: ***')
  t.equal(redactMessage('Cookie: theme=dark; sid=abc'), 'Cookie: theme=***; sid=***')
  t.equal(redactMessage('Set-Cookie: session=abc; Path=/; HttpOnly'), 'Set-Cookie: session=***; Path=/; HttpOnly')
  t.equal(redactMessage('docker login --password s3cret registry'), 'docker login --password *** registry')
})
