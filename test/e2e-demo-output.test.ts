import t from 'tap'
// @ts-expect-error: plain JS example modules, no types
import { timelineSvg, OUTCOMES } from '../examples/chat-server/demo-timeline.js'
// @ts-expect-error: plain JS example modules, no types
import { table } from '../examples/chat-server/demo.js'

// Issue 18: the timeline weighed 440 kB (300 dots per variant), had no title or ticks, and its legend drew
// "dependency ready" as a dot while the chart drew a dashed line; the table's naive row disagreed with itself.

function storm (clients: number, readyAtMs: number): Array<[number, string]> {
  const events: Array<[number, string]> = []
  for (let c = 0; c < clients; c++) {
    for (let t = 300 + (c % 50); t < readyAtMs; t += 400) events.push([t, c % 2 === 0 ? '1011' : 'no-listener'])
    events.push([readyAtMs + (c % 200), 'in'])
  }
  return events
}

t.test('the timeline of 3 x 300 clients stays small, with a title, ticks, counts and a legend that matches the marks', async (t) => {
  const rows = [
    { variant: 'naive (no suite)', events: storm(300, 2000), readyAtMs: 2000 },
    { variant: 'reject + Retry-After', events: storm(300, 2100), readyAtMs: 2100 },
    { variant: 'hold', events: storm(300, 1900), readyAtMs: 1900 }
  ]
  const svg: string = timelineSvg(rows, { clients: 300, warmupMs: 2000 })
  t.ok(Buffer.byteLength(svg) < 40_000, `a few tens of kB at most (${Buffer.byteLength(svg)} bytes)`)
  t.match(svg, /<title>Cold start: how 300 clients per variant fared/, 'an SVG title')
  t.match(svg, /font-weight="bold">Cold start with 300 WebSocket clients/, 'a visible title')
  for (const tick of ['0 ms', '1 s', '2 s']) t.match(svg, new RegExp(`>${tick}</text>`), `a tick at ${tick}`)
  const naive = rows[0].events
  const in1011 = naive.filter(([, k]) => k === '1011').length
  t.match(svg, new RegExp(`300 in, ${in1011} × 1011`), 'counts per outcome are written out')
  const dashed = svg.match(/stroke-dasharray="5 3"/g) ?? []
  t.equal(dashed.length, rows.length + 1, 'the ready line is dashed in each band and in the legend')
  t.notMatch(svg, /<circle/, 'no dots: attempts are binned')
  for (const o of OUTCOMES as Array<{ label: string, color: string }>) t.match(svg, new RegExp(`fill="${o.color}"/><text[^>]*>${o.label.replace(/[()]/g, '\\$&')}<`), `legend: ${o.label}`)
})

t.test('the demo table counts each client once: first-outcome columns add up to the clients', async (t) => {
  const row = { variant: 'naive (no suite)', clients: 300, first: { in: 10, held: 0, refused: 0, 1011: 285, closed: 2, 'no-listener': 3 }, neverIn: 3, lostClients: 285, attempts: 900, closes1011: 600, refused503: 0, readyToAllInMs: 500, readyAtMs: 2000, events: [] }
  const md: string = table([row])
  const cells = md.split('\n')[2].split('|').map((s) => s.trim()).filter(Boolean)
  const [, clients, inAtOnce, held, closed1011, refused, noAnswer] = cells.map(Number)
  t.equal(inAtOnce + held + closed1011 + refused + noAnswer, clients, 'the first-outcome columns add up to the clients')
  t.match(md, /900 \(600 \/ 0\)/, 'attempts over all retries are reported apart')
})
