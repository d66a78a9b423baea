import type { HealthFormat } from './format.js'

const HEALTH_JSON = 'application/health+json'

/**
 * The body format for an Accept header, by media type and quality (not a
 * substring: `application/health+jsonx` is not health+json). health+json when
 * the client names it with a quality above 0 and at least plain JSON's; JSON
 * when the client prefers it (or refuses health+json with `q=0`); else the default.
 */
export function negotiate (accept: string | undefined, fallback: HealthFormat): HealthFormat {
  if (accept === undefined) return fallback
  // The common case costs one substring test: kubelets and load balancers never ask for health+json.
  if (fallback === 'json' && !accept.toLowerCase().includes(HEALTH_JSON)) return 'json'
  const health = quality(accept, HEALTH_JSON)
  const json = quality(accept, 'application/json')
  if (health.named && health.q > 0 && health.q >= json.q) return 'health+json'
  return json.q > health.q ? 'json' : fallback
}

/** The quality the header gives `type`, from its most specific range (the type itself, then `application/` wildcards, then any type), and whether it names it. */
function quality (accept: string, type: string): { q: number, named: boolean } {
  let best = { q: 0, specificity: -1, named: false }
  for (const range of accept.toLowerCase().split(',')) {
    const [media = '', ...params] = range.split(';')
    const name = media.trim()
    const specificity = name === type ? 2 : name === 'application/*' ? 1 : name === '*/*' ? 0 : -1
    if (specificity < best.specificity || specificity === -1) continue
    let q = 1
    for (const param of params) {
      const [key, value] = param.split('=').map((part) => part.trim())
      // RFC 9110 qvalues: 0 to 1, at most three decimals; anything else is ignored.
      if (key === 'q' && value !== undefined && /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/.test(value)) q = Number(value)
    }
    // Equally specific ranges (a type listed twice): the higher quality counts.
    if (specificity > best.specificity || q > best.q) best = { q, specificity, named: best.named || specificity === 2 }
  }
  return { q: best.q, named: best.named }
}
