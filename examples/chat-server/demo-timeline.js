// The demo's timeline picture: attempts binned over time and stacked by outcome, one band per variant,
// on a shared time axis with ticks, the store's ready instant as a dashed line, and the count of each
// outcome written out. A few kB whatever the number of clients.

export const OUTCOMES = [
  { kind: 'in', label: 'in (message acknowledged)', color: '#2e7d32' },
  { kind: 'refused', label: 'refused 503 (try later)', color: '#f9a825' },
  { kind: '1011', label: 'closed 1011 (server error)', color: '#c62828' },
  { kind: 'closed', label: 'closed, other code', color: '#6a1b9a' },
  { kind: 'no-listener', label: 'not listening yet', color: '#9e9e9e' }
]

const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c])

function niceStep (span, parts) {
  const rough = span / parts
  const pow = 10 ** Math.floor(Math.log10(rough))
  for (const m of [1, 2, 5, 10]) if (pow * m >= rough) return pow * m
  return pow * 10
}

/** rows: [{ variant, events: [[ms, kind]], readyAtMs, clients }] */
export function timelineSvg (rows, { clients, warmupMs }) {
  const width = 900
  const left = 170
  const right = 20
  const band = 96
  const top = 52
  const maxMs = Math.max(1000, ...rows.flatMap((r) => r.events.map(([t]) => t)), ...rows.map((r) => r.readyAtMs ?? 0))
  const binMs = niceStep(maxMs, 100)
  const bins = Math.ceil(maxMs / binMs) + 1
  const plot = width - left - right
  const x = (ms) => left + (ms / (bins * binMs)) * plot
  const counted = rows.map((r) => {
    const perBin = Array.from({ length: bins }, () => Object.fromEntries(OUTCOMES.map((o) => [o.kind, 0])))
    const totals = Object.fromEntries(OUTCOMES.map((o) => [o.kind, 0]))
    for (const [t, kind] of r.events) {
      const k = kind in totals ? kind : 'closed'
      perBin[Math.min(bins - 1, Math.floor(t / binMs))][k]++
      totals[k]++
    }
    return { r, perBin, totals }
  })
  const peak = Math.max(1, ...counted.flatMap(({ perBin }) => perBin.map((b) => Object.values(b).reduce((a, c) => a + c, 0))))
  const barHeight = band - 34
  const height = top + rows.length * band + 80
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<title>Cold start: how ${clients} clients per variant fared, attempts per ${binMs} ms</title>`,
    '<rect width="100%" height="100%" fill="white"/>',
    `<text x="10" y="20" font-size="15" font-weight="bold">Cold start with ${clients} WebSocket clients per variant (store warm-up ${warmupMs} ms)</text>`,
    `<text x="10" y="38" fill="#555">Attempts per ${binMs} ms, stacked by outcome (bar height: up to ${peak} attempts); every retry is an attempt.</text>`]
  // Ticks and grid through every band.
  const step = niceStep(maxMs, 8)
  const axisY = top + rows.length * band
  for (let t = 0; t <= bins * binMs; t += step) {
    const px = x(t).toFixed(1)
    out.push(`<line x1="${px}" y1="${top}" x2="${px}" y2="${axisY}" stroke="#eee"/>`)
    out.push(`<line x1="${px}" y1="${axisY}" x2="${px}" y2="${axisY + 4}" stroke="#555"/><text x="${px}" y="${axisY + 16}" text-anchor="middle" fill="#555">${t >= 1000 ? `${t / 1000} s` : `${t} ms`}</text>`)
  }
  out.push(`<line x1="${left}" y1="${axisY}" x2="${width - right}" y2="${axisY}" stroke="#555"/>`)
  out.push(`<text x="${left}" y="${axisY + 32}" fill="#555">time since the server process was started</text>`)
  counted.forEach(({ r, perBin, totals }, i) => {
    const y0 = top + i * band
    const base = y0 + band - 8
    out.push(`<text x="10" y="${y0 + 18}" font-weight="bold">${esc(r.variant)}</text>`)
    const parts = OUTCOMES.filter((o) => totals[o.kind] > 0).map((o) => `${totals[o.kind]} ${o.kind === 'no-listener' ? 'no listener' : o.kind === 'refused' ? '× 503' : o.kind === '1011' ? '× 1011' : o.kind}`)
    out.push(`<text x="10" y="${y0 + 34}" fill="#555">${esc(parts.join(', '))}</text>`)
    out.push(`<line x1="${left}" y1="${base}" x2="${width - right}" y2="${base}" stroke="#ccc"/>`)
    const w = Math.max(1, plot / bins - 1).toFixed(1)
    perBin.forEach((bin, b) => {
      let y = base
      for (const o of OUTCOMES) {
        const n = bin[o.kind]
        if (n === 0) continue
        const h = Math.max(1, (n / peak) * barHeight)
        y -= h
        out.push(`<rect x="${x(b * binMs).toFixed(1)}" y="${y.toFixed(1)}" width="${w}" height="${h.toFixed(1)}" fill="${o.color}"/>`)
      }
    })
    if (r.readyAtMs !== null) {
      const px = x(r.readyAtMs).toFixed(1)
      out.push(`<line x1="${px}" y1="${y0 + 6}" x2="${px}" y2="${base}" stroke="#1565c0" stroke-width="1.5" stroke-dasharray="5 3"/>`)
    }
  })
  // The legend draws each mark as the chart does: filled boxes for outcomes, a dashed line for "store ready".
  let ly = height - 22
  let lx = 10
  const room = (label) => { const w = 14 + label.length * 6.4 + 14; if (lx + w > width) { lx = 10; ly += 16 } const at = lx; lx += w; return at }
  for (const o of OUTCOMES) {
    const at = room(o.label)
    out.push(`<rect x="${at}" y="${ly - 9}" width="10" height="10" fill="${o.color}"/><text x="${at + 14}" y="${ly}">${esc(o.label)}</text>`)
  }
  const at = room('store ready  ')
  out.push(`<line x1="${at}" y1="${ly - 4}" x2="${at + 22}" y2="${ly - 4}" stroke="#1565c0" stroke-width="1.5" stroke-dasharray="5 3"/><text x="${at + 26}" y="${ly}">store ready</text>`)
  out.push('</svg>')
  return out.join('\n')
}
