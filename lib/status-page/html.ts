import { createHash } from 'node:crypto'

const STYLE = `
  :root { --pass: #1a7f37; --fail: #cf222e; --warn: #9a6700; --run: #0969da; --muted: #656d76; --line: #d0d7de; --bg: #f6f8fa; }
  * { box-sizing: border-box; }
  body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #1f2328; background: #fff; }
  header { display: flex; gap: 12px; align-items: center; padding: 10px 16px; border-bottom: 1px solid var(--line); background: var(--bg); flex-wrap: wrap; }
  h1 { font-size: 16px; margin: 0 8px 0 0; }
  h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); margin: 14px 0 6px; }
  main { padding: 0 16px 12px; }
  .badge { display: inline-block; padding: 2px 8px; border-radius: 10px; font-weight: 600; color: #fff; background: var(--muted); }
  .badge.pass { background: var(--pass); } .badge.fail { background: var(--fail); } .badge.warn { background: var(--warn); } .badge.running { background: var(--run); }
  .meta { color: var(--muted); }
  table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
  th, td { text-align: left; padding: 3px 6px; border-bottom: 1px solid var(--line); white-space: nowrap; }
  th { color: var(--muted); font-weight: 600; font-size: 12px; white-space: normal; vertical-align: bottom; }
  td.num, th.num { text-align: right; }
  td.err { white-space: normal; color: var(--fail); font-size: 12px; }
  .st-pass { color: var(--pass); font-weight: 600; } .st-fail { color: var(--fail); font-weight: 600; } .st-unknown, .st-pending, .st-waiting, .st-skipped { color: var(--muted); } .st-running { color: var(--run); font-weight: 600; } .st-done { color: var(--pass); } .st-failed { color: var(--fail); font-weight: 600; }
  svg text { font: 11px system-ui, sans-serif; fill: #1f2328; }
  svg .tick { fill: var(--muted); }
  svg .axis { fill: #1f2328; font-weight: 600; }
  .grid { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1.3fr); gap: 0 24px; }
  @media (max-width: 800px) { .grid { grid-template-columns: 1fr; } }
  #error { color: var(--fail); }
`

// No ${...} in here: the script is the same bytes for every app, so its hash is fixed.
const SCRIPT = String.raw`
(() => {
  'use strict'
  const config = { dataUrl: document.body.dataset.dataUrl, refreshMs: Number(document.body.dataset.refreshMs) }
  const $ = (id) => document.getElementById(id)
  // A token can travel in the fragment (#token=...), which browsers never send to the server or its logs.
  const token = new URLSearchParams(location.hash.slice(1)).get('token')
  const headers = token ? { authorization: 'Bearer ' + token } : {}
  const SVG = 'http://www.w3.org/2000/svg'
  const ms = (v) => v == null ? '-' : v < 1000 ? Math.round(v) + ' ms' : (v / 1000).toFixed(v < 10000 ? 2 : 1) + ' s'
  const colours = { done: '#1a7f37', running: '#0969da', waiting: '#8c959f', failed: '#cf222e', skipped: '#d0d7de', pending: '#eaeef2' }
  let failures = 0
  let timer = null

  function el (tag, attrs, text) {
    const node = tag.startsWith('svg:') ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag)
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v))
    if (text != null) node.textContent = String(text)
    return node
  }

  function niceStep (span) {
    const rough = span / 6
    const pow = Math.pow(10, Math.floor(Math.log10(rough)))
    for (const m of [1, 2, 5, 10]) if (pow * m >= rough) return pow * m
    return pow * 10
  }

  function drawTimeline (data) {
    const svg = $('timeline')
    const phases = Object.entries(data.status.phases)
    const start = Date.parse(data.status.startup.startedAt || data.now)
    const now = Date.parse(data.now)
    const ends = phases.map(([, p]) => p.finishedAt ? Date.parse(p.finishedAt) : p.startedAt ? now : start)
    const passes = Object.entries(data.probeFirstPass).filter(([, t]) => t)
    for (const [, t] of passes) ends.push(Date.parse(t))
    const span = Math.max(100, ...ends.map((e) => e - start))
    const width = Math.max(300, svg.clientWidth || 800)
    const left = 130, right = 70, row = 22, top = 18
    const rows = phases.length + (passes.length ? 1 : 0)
    const height = top + Math.max(1, rows) * row + 38
    svg.setAttribute('height', height)
    svg.setAttribute('viewBox', '0 0 ' + width + ' ' + height)
    svg.replaceChildren()
    const x = (t) => left + Math.max(0, Math.min(1, (t - start) / span)) * (width - left - right)
    const step = niceStep(span)
    for (let t = 0; t <= span + 1e-9; t += step) {
      const px = x(start + t)
      svg.append(el('svg:line', { x1: px, x2: px, y1: top - 4, y2: height - 34, stroke: '#eaeef2' }))
      svg.append(el('svg:text', { x: px, y: height - 20, 'text-anchor': 'middle', class: 'tick' }, ms(t)))
    }
    // The axes, labelled: phases (and probes) down the left, time since startup began along the bottom.
    svg.append(el('svg:line', { x1: left, x2: width - right, y1: height - 34, y2: height - 34, stroke: '#8c959f' }))
    svg.append(el('svg:text', { x: 4, y: 10, class: 'axis' }, 'phase'))
    svg.append(el('svg:text', { x: left + (width - left - right) / 2, y: height - 4, 'text-anchor': 'middle', class: 'axis' }, 'time since startup began'))
    phases.forEach(([name, p], i) => {
      const y = top + i * row
      svg.append(el('svg:text', { x: 4, y: y + 14 }, name))
      if (!p.startedAt) { svg.append(el('svg:text', { x: left, y: y + 14, class: 'tick' }, p.state)); return }
      const x0 = x(Date.parse(p.startedAt))
      const x1 = x(p.finishedAt ? Date.parse(p.finishedAt) : now)
      const bar = el('svg:rect', { x: x0, y: y + 3, width: Math.max(2, x1 - x0), height: row - 8, rx: 3, fill: colours[p.state] || '#8c959f' })
      bar.append(el('svg:title', {}, name + ': ' + p.state + (p.durationMs != null ? ', ' + ms(p.durationMs) : '')))
      svg.append(bar)
      svg.append(el('svg:text', { x: Math.max(x0, x1) + 4, y: y + 14, class: 'tick' }, p.durationMs != null ? ms(p.durationMs) : p.state))
    })
    if (passes.length) {
      const y = top + phases.length * row
      svg.append(el('svg:text', { x: 4, y: y + 14 }, 'probes first pass'))
      for (const [name, t] of passes) {
        const px = x(Date.parse(t))
        svg.append(el('svg:line', { x1: px, x2: px, y1: top - 4, y2: y + row - 4, stroke: '#1a7f37', 'stroke-dasharray': '3 3' }))
        const mark = el('svg:path', { d: 'M' + px + ' ' + (y + 4) + ' l6 6 l-6 6 l-6 -6 z', fill: '#1a7f37' })
        mark.append(el('svg:title', {}, name + ' first passed at ' + ms(Date.parse(t) - start)))
        svg.append(mark)
        svg.append(el('svg:text', { x: px + 8, y: y + 14, class: 'tick' }, name))
      }
    }
    if (!phases.length && !passes.length) svg.append(el('svg:text', { x: 4, y: top + 12, class: 'tick' }, 'No startup phases.'))
  }

  function cell (row, text, cls) { row.append(el('td', cls ? { class: cls } : {}, text)) }

  function render (data) {
    const s = data.status
    const state = s.draining ? 'draining' : s.ready ? (s.status === 'warn' ? 'ready (degraded)' : 'ready') : s.startup.state === 'running' ? 'starting' : 'not ready'
    const badge = $('state')
    badge.textContent = state
    badge.className = 'badge ' + (s.draining ? 'warn' : s.ready ? s.status : s.startup.state === 'running' ? 'running' : 'fail')
    const st = s.startup
    $('startup').textContent = 'startup ' + st.state + (st.durationMs != null ? ' in ' + ms(st.durationMs) : '') + ' · budget ' + ms(st.budgetMs) +
      (st.criticalPath.length ? ' · critical path ' + st.criticalPath.join(' → ') : '') + (st.error ? ' · failed in ' + st.error.phase + ': ' + st.error.message : '') +
      (s.missing.length ? ' · missing: ' + s.missing.join(', ') : '')
    drawTimeline(data)
    const probes = $('probes').tBodies[0]
    probes.replaceChildren()
    for (const [name, p] of Object.entries(s.probes)) {
      const row = el('tr', { 'data-probe': name })
      cell(row, name); cell(row, p.status, 'st-' + p.status); cell(row, p.critical ? 'yes' : 'no')
      cell(row, ms(p.latencyMs), 'num'); cell(row, p.runs, 'num'); cell(row, p.failures, 'num'); cell(row, p.consecutiveFailures, 'num')
      cell(row, p.status === 'fail' && p.lastError ? p.lastError.message : '', 'err')
      probes.append(row)
    }
    const gate = $('gate').tBodies[0]
    gate.replaceChildren()
    const routes = data.websocket ? Object.entries(data.websocket.routes) : []
    $('gate-none').hidden = routes.length > 0
    for (const [route, r] of routes) {
      const row = el('tr', { 'data-route': route })
      cell(row, route); cell(row, r.ready ? 'yes' : 'no', r.ready ? 'st-pass' : 'st-fail'); cell(row, r.mode)
      for (const v of [r.open, r.held, r.accepted, r.refused, r.heldTotal, r.holdTimeouts, r.closedOnLoss]) cell(row, v, 'num')
      gate.append(row)
    }
    $('updated').textContent = 'updated ' + new Date(data.now).toLocaleTimeString() + ', every ' + ms(config.refreshMs)
    document.body.dataset.state = state
  }

  async function refresh () {
    timer = null
    try {
      const res = await fetch(config.dataUrl, { headers, cache: 'no-store', credentials: 'same-origin' })
      if (res.status === 404) {
        // Not allowed (or not there): say how to get in, and stop asking.
        $('state').textContent = 'no access'
        $('error').textContent = 'The details policy did not admit this browser. Open this page as ' + location.pathname + '#token=<your token>, or from an address the policy admits.'
        document.body.dataset.state = 'no access'
        return
      }
      if (!res.ok) throw new Error('HTTP ' + res.status)
      render(await res.json())
      failures = 0
      $('error').textContent = ''
    } catch (err) {
      failures++
      $('error').textContent = 'cannot reach the instance (' + err.message + '); retrying'
    }
    schedule()
  }

  // Bounded: one request in flight, at most one per refreshMs, backing off to 30 s on errors, none while hidden.
  function schedule () {
    if (timer !== null || document.hidden) return
    const delay = Math.min(30000, config.refreshMs * Math.pow(2, Math.min(failures, 5)))
    timer = setTimeout(refresh, delay)
  }
  document.addEventListener('visibilitychange', () => { if (!document.hidden && timer === null) refresh() })
  window.statusPage = { refresh }
  refresh()
})()
`

const hash = (text: string): string => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`

/** The page's Content-Security-Policy: its own style and script by hash, data from its own origin only. */
export const STATUS_PAGE_CSP = `default-src 'none'; script-src ${hash(SCRIPT)}; style-src ${hash(STYLE)}; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`

/**
 * The status page: one self-contained document (no CDN, no external file), so
 * it works on a closed network and under a strict CSP. Data arrives from the
 * JSON route; every value is written with textContent or as SVG attributes,
 * never as HTML, since probe errors and names are not ours to trust.
 * The style and the script are constants: the page's CSP allows exactly them
 * by their sha256 hash (no 'unsafe-inline'); the per-app settings travel as
 * data attributes of <body>, which run nothing.
 */
export function statusPageHtml ({ dataUrl, refreshMs }: { dataUrl: string, refreshMs: number }): string {
  const attr = (v: string): string => v.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Readiness status</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body data-data-url="${attr(dataUrl)}" data-refresh-ms="${refreshMs}">
<header>
  <h1>Readiness</h1>
  <span id="state" class="badge">loading</span>
  <span id="startup" class="meta"></span>
  <span id="updated" class="meta"></span>
  <span id="error"></span>
</header>
<main>
  <h2>Startup timeline</h2>
  <svg id="timeline" width="100%" height="60" role="img" aria-label="Startup timeline: phases as bars on a time axis, probes' first pass marked"></svg>
  <div class="grid">
    <section>
      <h2>Probes</h2>
      <table id="probes"><thead><tr><th>probe</th><th>status</th><th>critical</th><th class="num">last run</th><th class="num">runs</th><th class="num" title="failed runs since the probe was added">failed runs, total</th><th class="num" title="failed runs since the last pass; 0 while passing">failed in a row</th><th>last error</th></tr></thead><tbody></tbody></table>
    </section>
    <section>
      <h2>WebSocket gate</h2>
      <table id="gate"><thead><tr><th>route</th><th>ready</th><th>mode</th><th class="num">open</th><th class="num">held now</th><th class="num">admitted</th><th class="num">refused</th><th class="num">holds</th><th class="num">hold timeouts</th><th class="num">closed on loss</th></tr></thead><tbody></tbody></table>
      <p id="gate-none" class="meta" hidden>No gated WebSocket route.</p>
    </section>
  </div>
</main>
<script>${SCRIPT}</script>
</body>
</html>
`
}
