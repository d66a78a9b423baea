import { createRequire } from 'node:module'
import { ReadinessOptionError } from '../../common/errors.js'

const require = createRequire(import.meta.url)

/**
 * Loads an optional peer dependency at registration time, so a user who passes
 * a URL without the driver installed learns which package to install then,
 * not at the first health check.
 */
export function loadDriver<T> (probe: string, pkg: string, hint: string): T {
  try {
    return require(pkg) as T
  } catch (err) {
    if ((err as { code?: string }).code !== 'MODULE_NOT_FOUND') throw err
    throw new ReadinessOptionError(probe, `needs the "${pkg}" package: run \`npm install ${pkg}\`${hint}`)
  }
}
