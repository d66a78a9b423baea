import { ReadinessOptionError } from '../../common/errors.js'

/** A factory's option renamed in 0.3.0 (one unit convention: ...Ms) is refused naming its new name. */
export function refuseRenamed (factory: string, options: unknown, renamed: Record<string, string>): void {
  if (options === null || typeof options !== 'object') return
  for (const [old, now] of Object.entries(renamed)) {
    if (Object.hasOwn(options, old)) throw new ReadinessOptionError(`${factory}.${old}`, `was renamed to ${now} in 0.3.0 (the same value, in ms)`)
  }
}
