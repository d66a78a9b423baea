/**
 * The secret formats recognised by shape: credentials in Oracle-style strings, auth schemes, PEM keys,
 * webhook paths and the token formats secret scanners know. Each pattern is linear-time (see index.ts).
 */

/** Oracle-style `user/password@service` (`app/s3cret@ORCL`, `jdbc:oracle:thin:app/s3cret@db`), only at the start of a token. */
export const SLASH_CREDENTIALS = /(?<=^|[\s"'=(,;:])(?![0-9]{1,64}\/)([a-z0-9_$#.-]{1,64})\/[^\s/@]{1,256}@(?=[a-z0-9_.-])/gi
/** A bare `Bearer <token>` (e.g. a header echoed without its name). */
export const AUTH_SCHEME = /(?<![\w-])(bearer)\s{1,8}[a-z0-9._~+/=-]{8,4096}/gi
/** A bare `Basic <base64>`: masked when it decodes to `user:password` (not `Basic authentication`). */
export const BASIC_SCHEME = /(?<![\w-])(basic)\s{1,8}([A-Za-z0-9+/]{4,4096}={0,2})(?![\w+/=])/gi
/**
 * A PEM private key, header, body and footer, in one line, with `\n` escapes
 * (JSON, env files) or spaces. The body is base64 plus the few header
 * characters (`Proc-Type: 4,ENCRYPTED`); it ends at the footer or at the first
 * other character, one step per character (the footer check is fixed-length).
 */
export const PEM_PRIVATE_KEY = /(-----BEGIN[A-Z ]{0,40}PRIVATE KEY(?: BLOCK)?-----)(?:(?!-----END)[\w+/=\s\\:,.-])*(?:-----END[A-Z ]{0,40}PRIVATE KEY(?: BLOCK)?-----)?/g
/** Webhook URLs whose path is the secret (Slack, Discord): the path goes. */
export const WEBHOOK = /((?:hooks\.slack\.com\/(?:services|workflows|triggers)|discord(?:app)?\.com\/api\/webhooks)\/)[A-Za-z0-9/_-]{1,512}/gi
/** An AWS secret access key: 40 characters of base64, shown by its neighbour, an access key id (either order). */
const AWS_SEPARATOR = '[\\s:,;=|"\'/]{1,8}(?:[\\w-]{1,40}[\\s:,;=|"\']{1,8})?'
const AWS_SECRET = '[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])'
/** Token formats secret scanners know by shape alone. */
export const KNOWN_TOKENS = new RegExp([
  `(?<![A-Za-z0-9])(?:AKIA|ASIA)[0-9A-Z]{16}(?![A-Za-z0-9])(?:${AWS_SEPARATOR}${AWS_SECRET})?`, // AWS access key id (and its secret)
  `(?<![A-Za-z0-9/+=])${AWS_SECRET}(?=${AWS_SEPARATOR}(?:AKIA|ASIA)[0-9A-Z]{16})`, // AWS secret before its key id
  '(?<![A-Za-z0-9_])gh[pousr]_[A-Za-z0-9_]{16,255}', // GitHub tokens (ghp_, gho_, ghu_, ghs_, ghr_)
  '(?<![A-Za-z0-9_])github_pat_[A-Za-z0-9_]{16,255}', // GitHub fine-grained tokens
  '(?<![A-Za-z0-9_])npm_[A-Za-z0-9]{30,255}', // npm tokens
  '(?<![A-Za-z0-9-])xox[abprs]-[A-Za-z0-9-]{10,255}', // Slack tokens
  '(?<![A-Za-z0-9_])[sr]k_(?:live|test)_[A-Za-z0-9]{10,255}', // Stripe keys
  '(?<![A-Za-z0-9_-])AIza[0-9A-Za-z_-]{30,64}', // Google API keys
  '(?<![A-Za-z0-9_-])sk-(?:proj|ant|svcacct|admin)-[A-Za-z0-9_-]{16,255}', // OpenAI / Anthropic keys
  '(?<![A-Za-z0-9_-])glpat-[A-Za-z0-9_-]{20,255}', // GitLab personal access tokens
  '(?<![A-Za-z0-9_.-])SG\\.[A-Za-z0-9_-]{16,64}\\.[A-Za-z0-9_-]{16,128}', // SendGrid keys
  '(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{5,8192}\\.eyJ[A-Za-z0-9_-]{1,8192}\\.[A-Za-z0-9_-]{0,8192}' // JWTs
].join('|'), 'g')
