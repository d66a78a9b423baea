// Every ```ts and ```js block of README.md and docs/*.md, as its own module for the consumer app to compile
// against the packed package (issue 27: what a reader copies must work). A block may use the app's own
// names (app, redis, handler, ...): each block gets a prelude that declares only the names it uses and
// neither declares nor imports itself, typed as the docs mean them. The suite's own names (readiness,
// bearerToken, ReadinessClient, ...) come in as real imports from the package, so a block that forgets its
// import still compiles the way a reader's file would once they add it.
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'

export interface DocBlock {
  /** `docs/client.md:137`: the file and the line of the opening fence. */
  where: string
  lang: 'ts' | 'js'
  code: string
  /** A file name for the block's module, e.g. `docs-client-md-137.ts`. */
  file: string
}

/** The blocks, in file order. */
export async function docBlocks (repo: string): Promise<DocBlock[]> {
  const docs = (await readdir(join(repo, 'docs'))).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)
  const out: DocBlock[] = []
  for (const doc of ['README.md', ...docs]) {
    const lines = (await readFile(join(repo, doc), 'utf8')).split('\n')
    for (let i = 0; i < lines.length; i++) {
      const open = /^```(ts|typescript|js|javascript)\s*$/.exec(lines[i])
      if (open === null) continue
      const start = i
      const body: string[] = []
      for (i++; i < lines.length && !lines[i].startsWith('```'); i++) body.push(lines[i])
      const lang = open[1].startsWith('t') ? 'ts' : 'js'
      out.push({ where: `${doc}:${start + 1}`, lang, code: body.join('\n') + '\n', file: `${doc.replace(/[^A-Za-z0-9]+/g, '-').toLowerCase()}-${start + 1}.${lang}` })
    }
  }
  return out
}

/** Each name a block may leave to the reader's app, and how the prelude brings it in. */
const PRELUDE: Record<string, string> = {
  // The package's own exports: real imports.
  readiness: "import readiness from 'fastify-readiness'",
  bearerToken: "import { bearerToken } from 'fastify-readiness'",
  ReadinessClient: "import { ReadinessClient } from 'fastify-readiness/client'",
  Fastify: "import Fastify from 'fastify'",
  websocket: "import websocket from '@fastify/websocket'",
  // The reader's app.
  app: "declare const app: import('fastify').FastifyInstance",
  options: "declare const options: import('fastify-readiness').FastifyReadinessOptions",
  routes: "declare const routes: import('fastify').FastifyPluginAsync",
  redis: "declare const redis: import('ioredis').Redis",
  db: 'declare const db: { query: (sql: string) => Promise<unknown> }',
  meterProvider: "declare const meterProvider: import('@opentelemetry/api').MeterProvider",
  handler: 'declare const handler: (...args: any[]) => void',
  chat: 'declare const chat: (...args: any[]) => void',
  warmCaches: 'declare const warmCaches: () => Promise<void>',
  warmUp: 'declare const warmUp: (app: unknown, signal: AbortSignal) => Promise<void>',
  pgCheck: 'declare const pgCheck: (signal: AbortSignal) => Promise<void>',
  redisCheck: 'declare const redisCheck: (signal: AbortSignal) => Promise<void>',
  replicationLagMs: 'declare const replicationLagMs: () => Promise<number>',
  saveAndBroadcast: 'declare const saveAndBroadcast: (text: string) => Promise<void>',
  userIdOf: "declare const userIdOf: (request: import('fastify').FastifyRequest) => string",
  url: 'declare const url: string',
  render: 'declare const render: (data: unknown) => void',
  showBanner: 'declare const showBanner: (state: string) => void',
  showOffline: 'declare const showOffline: () => void',
  warn: 'declare const warn: (text: string) => void'
}

/** The names a block binds itself: imports, const/let/var, functions, classes. */
function ownNames (code: string): Set<string> {
  const names = new Set<string>()
  for (const m of code.matchAll(/^\s*import\s+(?:type\s+)?([\s\S]*?)\s+from\s+['"]/gm)) {
    const clause = m[1]
    const def = /^([A-Za-z_$][\w$]*)/.exec(clause)
    if (def !== null) names.add(def[1])
    const star = /\*\s+as\s+([A-Za-z_$][\w$]*)/.exec(clause)
    if (star !== null) names.add(star[1])
    const named = /\{([^}]*)\}/.exec(clause)
    if (named !== null) for (const part of named[1].split(',')) { const n = part.trim().split(/\s+as\s+/).pop()?.replace(/^type\s+/, ''); if (n) names.add(n) }
  }
  for (const m of code.matchAll(/\b(?:const|let|var|function|class)\s+([A-Za-z_$][\w$]*)/g)) names.add(m[1])
  return names
}

/** The prelude for one block: the PRELUDE lines of the names it uses (as values, not as keys or members). */
export function preludeFor (block: DocBlock): string {
  const own = ownNames(block.code)
  const lines: string[] = []
  for (const [name, line] of Object.entries(PRELUDE)) {
    if (own.has(name)) continue
    // Used: not after a dot (a member) and not a key (`name:`), unless a shorthand property `{ name }`.
    const used = new RegExp(`(?<![.\\w$'"])${name.replace('$', '\\$')}(?![\\w$'"])(?!\\s*:(?!:))`).test(block.code)
    if (used) lines.push(line)
  }
  // `app.readiness` is typed once the package is loaded: a block that names app gets the augmentation.
  if (lines.some((l) => l.startsWith('declare const app')) && !lines.some((l) => l.includes("from 'fastify-readiness'"))) lines.push("import type {} from 'fastify-readiness'")
  return lines.join('\n') + (lines.length > 0 ? '\n' : '')
}

/** The module the consumer app compiles: the prelude, the block verbatim, and `export {}` (a module, not a script). */
export function moduleFor (block: DocBlock): string {
  const prelude = preludeFor(block)
  const jsPrelude = block.lang === 'js'
    ? prelude.replace(/^declare const (\w+): .*$/gm, '/** @type {any} */ const $1 = undefined').replace(/^import type \{\} from/m, 'import {} from')
    : prelude
  return `// ${block.where}\n${jsPrelude}${block.code}export {}\n`
}

/** A block that needs nothing from the prelude's reader-side names and builds its own app: it can run. */
export function runnable (block: DocBlock): boolean {
  return /\bconst app = Fastify\(/.test(block.code) && !/\.listen\(/.test(block.code) && !/^declare const/m.test(preludeFor(block))
}
