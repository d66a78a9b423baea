import { Writable } from 'node:stream'

/** A stream for Fastify's pino logger that keeps every line, parsed, for the test to read. */
export function captureLogger (): { lines: Array<Record<string, any>>, stream: Writable } {
  const lines: Array<Record<string, any>> = []
  const stream = new Writable({
    write (chunk, _enc, done) {
      for (const line of String(chunk).split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line))
      done()
    }
  })
  return { lines, stream }
}
