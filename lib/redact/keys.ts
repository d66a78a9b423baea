/** Whether a key names a secret, by its words: shared by the message scan and the details of probe results. */

/**
 * Secret-looking key names, in the spirit of pino's redact paths and secret
 * scanners (gitleaks, detect-secrets), matched on the key's words (split at
 * `_`, `-`, `.` and camelCase): `DB_PASSWORD`, `client_secret`, `x-api-key`,
 * `secretAccessKey`, `connect.sid`, `AccountKey`, `sig`; never a longer word
 * that merely contains one (`passed`, `bypass`, `compass`, `tokensUsed`, `author`).
 * A few words are secret wherever they appear (`PGPASSWORD`, `passwd`).
 */
const SECRET_SUBSTRING = /passw|passphrase|secret/
const SECRET_KEY_WORDS = new RegExp('(?:^|_)(?:' + [
  'pass', 'pw', 'pwd', 'token', 'auth', 'authori[sz]ation', 'credentials?', 'creds', 'cookies?', 'set_cookie',
  'sid', 'session_?(?:id|key|token)', 'jwt', 'dsn', 'bearer', 'signature', 'sig',
  '(?:api|access|private|priv|secret|account|client|signing|shared_access|master|encryption|sas)_?key',
  '(?:access|auth|refresh|id|api|bearer|session|csrf|xsrf|oauth|private|security|sas)_?token',
  'connection_?string', 'conn_?str', 'apikey'
].join('|') + ')(?:_|$)')
/** Keys that name a secret only on their own (`session`, not `target_session_attrs`). */
const SECRET_WHOLE_KEY = /^(?:session|sess)$/
/** A secret's name, id, type or file is not the secret (`SharedAccessKeyName`, `api_key_id`, `token_type`), except a session id. */
const SECRET_METADATA = /_(?:name|id|type|file|path|length|count|expires?|ttl)$/
/** Bare values after a secret-looking key that are not secrets: error codes and status words. */
const NOT_A_SECRET = /^(?:yes|no|true|false|null|undefined|invalid|failed|expired|missing|none|not|empty|required|basic|bearer|digest)$/i
const ERROR_CODE = /^E[A-Z]{2,}(?:_[A-Z0-9]+)*$/

/**
 * Whether a key (`DB_PASSWORD`, `x-api-key`, `secretAccessKey`, `connect.sid`)
 * names a secret, by its words: see SECRET_KEY_WORDS. Shared with the details
 * of probe results.
 */
export function isSecretKey (key: string): boolean {
  const words = keyWords(key)
  if (SECRET_METADATA.test(words) && !/(?:^|_)session_?id$/.test(words)) return false
  return SECRET_SUBSTRING.test(words) || SECRET_KEY_WORDS.test(words) || SECRET_WHOLE_KEY.test(words)
}

/** `secretAccessKey`, `x-api-key`, `connect.sid` -> `secret_access_key`, `x_api_key`, `connect_sid`. */
export function keyWords (key: string): string {
  return key.slice(0, 200).replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase().replace(/[^a-z0-9]+/g, '_')
}

/** `NO`, `ECONNRESET`, `expired)`: what follows `password:` or `token:` in an error, not a secret. */
export function isNotASecret (value: string): boolean {
  const word = value.replace(/[).,:!?\]}>]+$/, '')
  return NOT_A_SECRET.test(word) || ERROR_CODE.test(word)
}
