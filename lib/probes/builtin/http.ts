import { Agent as HttpAgent, request as httpRequest } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import { ReadinessOptionError } from '../../common/errors.js'
import { describe } from '../../common/options.js'
import { closable, type ClosableCheck } from './closable.js'

export interface HttpProbeOptions {
  url: string | URL
  /** A status, a list of statuses, or a predicate. Default: any 2xx. */
  expectStatus?: number | number[] | ((status: number) => boolean)
  method?: string
  headers?: Record<string, string>
}

/**
 * Passes when the URL answers with an expected status. Uses node:http(s) with
 * the probe's AbortSignal and a keep-alive agent of its own (one reused
 * connection), destroyed on app.close(). Not fetch: undici keeps a socket to a
 * hung server for seconds after the abort, past app.close().
 */
export function httpProbe ({ url, expectStatus, method = 'GET', headers = {} }: HttpProbeOptions): ClosableCheck {
  let target: URL
  try {
    target = new URL(url)
  } catch {
    throw new ReadinessOptionError('httpProbe.url', `must be an absolute URL, got ${describe(String(url))}`)
  }
  if (target.protocol !== 'http:' && target.protocol !== 'https:') {
    throw new ReadinessOptionError('httpProbe.url', `must be an http: or https: URL, got ${describe(target.protocol)}`)
  }
  const expected = statusMatcher(expectStatus)
  const secure = target.protocol === 'https:'
  const agent = secure ? new HttpsAgent({ keepAlive: true, maxSockets: 1 }) : new HttpAgent({ keepAlive: true, maxSockets: 1 })
  const request = secure ? httpsRequest : httpRequest
  const label = `${method} ${target.origin}${target.pathname}`
  return closable('component', (signal) => new Promise<void>((resolve, reject) => {
    const req = request(target, { method, headers, agent, signal }, (res) => {
      res.resume() // drain, so the connection can be reused
      res.once('error', reject)
      res.once('end', () => {
        const status = res.statusCode ?? 0
        if (expected(status)) resolve()
        else reject(new Error(`${label} answered ${status}`))
      })
    })
    req.once('error', reject)
    req.end()
  }), async () => { agent.destroy() })
}

function statusMatcher (expect: HttpProbeOptions['expectStatus']): (status: number) => boolean {
  if (expect === undefined) return (s) => s >= 200 && s < 300
  if (typeof expect === 'function') return expect
  if (typeof expect === 'number') return (s) => s === expect
  if (Array.isArray(expect) && expect.every((s) => typeof s === 'number')) return (s) => expect.includes(s)
  throw new ReadinessOptionError('httpProbe.expectStatus', `must be a status, an array of statuses or a function, got ${describe(expect)}`)
}
