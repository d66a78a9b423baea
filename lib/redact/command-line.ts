import { isNotASecret, isSecretKey } from './keys.js'

/** Secrets on command lines echoed in errors: long options that name one, and MySQL's `-p<password>`. */

/**
 * Command lines echoed in errors: `--password s3cret`, `--db-password=s3cret`,
 * `--token abc` (a long option naming a secret, its value after `=` or spaces).
 * `--password-stdin` is a flag and `--token-file` takes a path: both are kept.
 */
const CLI_SECRET = /(?<![\w-])--([\w-]{1,80})(=|\s{1,8})(?!-)("[^"\n]{0,4096}"|'[^'\n]{0,4096}'|[^\s"']{1,4096})/g
const CLI_NOT_A_VALUE = /[-_](?:stdin|file|path|fd|env)$/i
/**
 * MySQL's `-p<password>` (no space), only in a mysql/mysqldump/mariadb command
 * line: the command word followed by options (`mysql -uroot -ps3cret -h db`).
 * `-port`, `-path=` after other words (`mysql: ... -port 3306`) are not it.
 */
const MYSQL_COMMAND = /(?<![\w-])(?:mysql|mysqldump|mysqladmin|mysqlimport|mariadb|mariadb-dump)(?=\s{1,8}-)/g
const COMMAND_TOKEN = /\s{1,8}(\S{1,4096})/y
const MYSQL_SHORT_WITH_VALUE = /^-[hPSuDe]$/
/** A long option written with one dash (`-port`, `-path=/x`, `-protocol=tcp`): shown, not taken for a password. */
const MYSQL_LONG_OPTION_TYPO = /^-p(?:ort|ath|rotocol|ipe|lugin[\w-]*|rint[\w-]*|ager|rompt)(?:=|$)/

/** `--password s3cret` -> `--password ***` (flags and path options kept). */
export function maskCliSecrets (line: string): string {
  return line.replace(CLI_SECRET, (match: string, name: string, separator: string, value: string) =>
    !isSecretKey(name) || CLI_NOT_A_VALUE.test(name) || isNotASecret(value) ? match : `--${name}${separator}***`)
}

/**
 * MySQL's `-p<password>` in a mysql command line: the tokens after the command
 * word are walked while they are options (or the value of `-h`, `-u`, ...).
 */
export function maskMysqlPasswords (line: string): string {
  MYSQL_COMMAND.lastIndex = 0
  let out = ''
  let copied = 0
  while (MYSQL_COMMAND.exec(line) !== null) {
    let at = MYSQL_COMMAND.lastIndex
    let expectValue = false
    for (let tokens = 0; tokens < 32; tokens++) {
      COMMAND_TOKEN.lastIndex = at
      const token = COMMAND_TOKEN.exec(line)
      if (token === null) break
      const word = token[1] ?? ''
      if (!word.startsWith('-')) {
        if (!expectValue) break
        expectValue = false
      } else {
        expectValue = MYSQL_SHORT_WITH_VALUE.test(word)
        if (word.startsWith('-p') && word.length > 2 && !MYSQL_LONG_OPTION_TYPO.test(word)) {
          const valueStart = COMMAND_TOKEN.lastIndex - word.length + 2
          out += `${line.slice(copied, valueStart)}***`
          copied = COMMAND_TOKEN.lastIndex
        }
      }
      at = COMMAND_TOKEN.lastIndex
    }
    MYSQL_COMMAND.lastIndex = Math.max(at, MYSQL_COMMAND.lastIndex)
  }
  return copied === 0 ? line : out + line.slice(copied)
}
