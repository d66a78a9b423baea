// Every option a plugin reads is documented: the keys come from the plugins' own option tables (the one list
// each plugin reads its options by), so a new or renamed option without a docs row fails here, and a row
// that still names a key renamed in 0.3.0 fails too.
import t from 'tap'
import { readFile } from 'node:fs/promises'
import { GATE_OPTIONS } from '../lib/gate/options.js'
import { HEALTH_OPTIONS } from '../lib/health/options.js'
import { PROBE_OPTIONS } from '../lib/probes/options.js'
import { PHASE_OPTIONS } from '../lib/startup/phase-options.js'
import { PRESSURE_OPTIONS } from '../plugins/pressure.js'
import { SHUTDOWN_OPTIONS } from '../plugins/shutdown.js'
import { STARTUP_OPTIONS } from '../plugins/startup.js'
import { STATUS_PAGE_OPTIONS } from '../plugins/status-page.js'

const configuration = await readFile(new URL('../docs/configuration.md', import.meta.url), 'utf8')

/** The lines of one `## heading` section of the configuration reference, up to the next `## `. */
function section (heading: string): string {
  const start = configuration.indexOf(`\n## ${heading}\n`)
  if (start === -1) return ''
  const next = configuration.indexOf('\n## ', start + 4)
  return configuration.slice(start, next === -1 ? undefined : next)
}

/** Keys named in the first cell of a table row: `| \`a\`, \`b\` | ... |`. */
function documentedKeys (text: string): Set<string> {
  const keys = new Set<string>()
  for (const line of text.split('\n')) {
    const cell = /^\|([^|]*)\|/.exec(line)?.[1]
    if (cell === undefined) continue
    for (const match of cell.matchAll(/`([A-Za-z][A-Za-z0-9]*)`/g)) keys.add(match[1] as string)
  }
  return keys
}

const tables: Array<[string, Record<string, unknown>]> = [
  ['Probes', PROBE_OPTIONS],
  ['Phases', PHASE_OPTIONS],
  ['Startup', STARTUP_OPTIONS],
  ['WebSocket gate', GATE_OPTIONS],
  ['Shutdown', SHUTDOWN_OPTIONS],
  ['Health routes', HEALTH_OPTIONS],
  ['Pressure', PRESSURE_OPTIONS],
  ['Status page', STATUS_PAGE_OPTIONS]
]

for (const [heading, table] of tables) {
  t.test(`docs/configuration.md "${heading}" has a row for every option the plugin reads`, async (t) => {
    const text = section(heading)
    t.not(text, '', `the section "## ${heading}" exists`)
    const documented = documentedKeys(text)
    const missing = Object.keys(table).filter((key) => !documented.has(key))
    t.same(missing, [], `every key of the ${heading} option table has a docs row`)
  })
}

t.test('no docs row names an option by its name before 0.3.0', async (t) => {
  const old = ['timeout', 'interval', 'startInterval', 'holdTimeout', 'maxHoldTimeout', 'refusedCloseTimeout', 'drainTimeout', 'drainSpread', 'delay', 'refreshInterval', 'failedLivenessGrace', 'expected']
  for (const [heading] of tables) {
    const rows = documentedKeys(section(heading))
    t.same(old.filter((key) => rows.has(key)), [], `only the ...Ms names are documented in "${heading}"`)
  }
})
