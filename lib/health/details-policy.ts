import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyRequest } from 'fastify'
import { ReadinessOptionError } from '../common/errors.js'
import { describe } from '../common/options.js'

/**
 * Who may see details (phases, probes, latencies, redacted errors, the status
 * page): nobody, everybody, or whoever a function admits. The function may be
 * async; it is awaited within a time bound, and a throw, a rejection or a
 * timeout all mean "not allowed": a broken policy must never turn a health
 * route into a 500 (the kubelet would restart a healthy pod).
 */
export type DetailsPolicy = 'never' | 'always' | ((request: FastifyRequest) => boolean | Promise<boolean>)

/** How long an async policy may take before the caller is treated as anonymous. */
export const POLICY_TIMEOUT_MS = 1000

export function parseDetailsPolicy (path: string, value: unknown): DetailsPolicy {
  if (value === undefined) return 'never'
  if (value === 'never' || value === 'always' || typeof value === 'function') return value as DetailsPolicy
  throw new ReadinessOptionError(path, `must be 'never', 'always' or a function (request) => boolean | Promise<boolean>, got ${describe(value)}`)
}

/** Resolves true only when the policy positively allows this request. Never rejects. */
export async function detailsAllowed (policy: DetailsPolicy, request: FastifyRequest, timeoutMs = POLICY_TIMEOUT_MS): Promise<boolean> {
  if (policy === 'always') return true
  if (policy === 'never') return false
  let timer: NodeJS.Timeout | undefined
  try {
    const verdict = policy(request)
    if (verdict === true || verdict === false) return verdict
    if (!isThenable(verdict)) return false
    const timeout = new Promise<false>((resolve) => { timer = setTimeout(resolve, timeoutMs, false) })
    return (await Promise.race([verdict, timeout])) === true
  } catch {
    return false
  } finally {
    clearTimeout(timer)
  }
}

/**
 * A policy for the common case: callers that present a shared secret as
 * `Authorization: Bearer <token>` see details. Compared in constant time over
 * fixed-length digests, so neither the token nor its length leaks through
 * timing. Unlike an IP check, this holds behind a proxy or a load balancer,
 * where every request comes from the proxy's address (and `X-Forwarded-For`
 * is whatever the caller wrote).
 *
 * `undefined` is accepted by the type because the token usually comes from
 * the environment (`bearerToken(process.env.HEALTH_TOKEN)`): an unset
 * variable fails at once with an error that says so, rather than at the
 * compiler, where a `!` would only hide it.
 */
export function bearerToken (tokens: string | readonly string[] | undefined): (request: FastifyRequest) => boolean {
  if (tokens === undefined || tokens === '') {
    throw new ReadinessOptionError('bearerToken', `needs a token, got ${tokens === undefined ? 'undefined' : 'an empty string'}: is the environment variable that holds it set?`)
  }
  const list = typeof tokens === 'string' ? [tokens] : tokens
  if (!Array.isArray(list) || list.length === 0 || list.some((t) => typeof t !== 'string' || t.length < 16)) {
    throw new ReadinessOptionError('bearerToken', `needs one or more tokens of at least 16 characters, got ${describe(tokens)}`)
  }
  const digests = list.map(digest)
  return (request) => {
    const header = request.headers.authorization
    // RFC 7235: the auth scheme is case-insensitive (`bearer`, `BEARER`), then one or more spaces.
    if (typeof header !== 'string' || header.slice(0, 6).toLowerCase() !== 'bearer' || (header[6] !== ' ' && header[6] !== '\t')) return false
    const presented = digest(header.slice(7).trim())
    let match = false
    for (const expected of digests) match = timingSafeEqual(presented, expected) || match
    return match
  }
}

function digest (value: string): Buffer {
  return createHash('sha256').update(value).digest()
}

function isThenable (value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === 'function'
}
