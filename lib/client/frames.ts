/**
 * The wire format of opt-in delivery, shared by the client (browser bundle)
 * and the server helper (lib/delivery), so it stays free of Node imports.
 * Text frames only. A leading U+001E (record separator) marks the suite's
 * frames; an app's own text rarely starts with a control character, and both
 * sides only look for it when delivery is on.
 *
 *   client -> server  "\u001Eh <session> <incarnation>"     first on every socket: who is sending
 *   client -> server  "\u001Em <session> <seq> <payload>"   a numbered message
 *   server -> client  "\u001Ea <session> <seq>"             everything up to seq is handled
 *   client -> server  "\u001Ep <n>"  server -> client  "\u001Eq <n>"   the live-peer check (browsers cannot ping)
 *   server -> client  "\u001Ed <seq> <payload>"   a numbered message to the client (per incarnation)
 *   client -> server  "\u001Ek <seq>"             the client has every server message up to seq (batched)
 *   server -> client  "\u001Eg <from> <to|?>"     resume impossible: these were given up on (bounds) or are unknown
 *   the hello carries the last server message the client has: "\u001Eh <session> <incarnation> <seq>"
 *
 * The incarnation is one client object (a page load, a tab, a process): its numbers start at 1, so the
 * server's window is per (session, incarnation) and a reload never has its messages taken for duplicates.
 */
export const FRAME_MARK = '\u001E'
export const MESSAGE_PREFIX = `${FRAME_MARK}m `
const ACK_PREFIX = `${FRAME_MARK}a `
export const HELLO_PREFIX = `${FRAME_MARK}h `
export const PING_PREFIX = `${FRAME_MARK}p `
export const PONG_PREFIX = `${FRAME_MARK}q `
export const DATA_PREFIX = `${FRAME_MARK}d `
export const RECEIVED_PREFIX = `${FRAME_MARK}k `
export const GAP_PREFIX = `${FRAME_MARK}g `
const SEQ = /^(0|[1-9]\d{0,15})$/

/** The close a second live incarnation of an exclusive session gets (4xxx: the app's range; not final). */
export const SESSION_IN_USE_CODE = 4409
export const SESSION_IN_USE_REASON = 'delivery session in use; retry in 5s'
/** withDelivery's close (1013) when its store cannot be read or written: nothing was handled, the client re-sends. */
export const STORE_DOWN_REASON = 'delivery store unavailable; retry in 1s'

/** Session ids: 8-64 characters of [A-Za-z0-9_-], so a frame always splits cleanly. */
export const SESSION_ID = /^[A-Za-z0-9_-]{8,64}$/

export function messageFrame (session: string, seq: number, payload: string): string {
  return `${MESSAGE_PREFIX}${session} ${seq} ${payload}`
}

export function ackFrame (session: string, seq: number): string {
  return `${ACK_PREFIX}${session} ${seq}`
}

export function helloFrame (session: string, incarnation: string, received = 0): string {
  return `${HELLO_PREFIX}${session} ${incarnation} ${received}`
}

/** A hello frame's session, incarnation and last server message received (0: none), or null when invalid. */
export function parseHelloFrame (text: string): { session: string, incarnation: string, received: number } | null {
  if (!text.startsWith(HELLO_PREFIX)) return null
  const parts = text.slice(HELLO_PREFIX.length).split(' ')
  if (parts.length < 2 || parts.length > 3 || !SESSION_ID.test(parts[0]) || !SESSION_ID.test(parts[1])) return null
  if (parts.length === 3 && !SEQ.test(parts[2])) return null
  const received = parts.length === 3 ? Number(parts[2]) : 0
  if (!Number.isSafeInteger(received)) return null
  return { session: parts[0], incarnation: parts[1], received }
}

/** Parses `<seq> <rest>` after `prefix`; null when it is not one. */
export function parseDataFrame (text: string): { seq: number, payload: string } | null {
  if (!text.startsWith(DATA_PREFIX)) return null
  const space = text.indexOf(' ', DATA_PREFIX.length)
  if (space === -1) return null
  const seqText = text.slice(DATA_PREFIX.length, space)
  if (!SEQ.test(seqText) || seqText === '0') return null
  return { seq: Number(seqText), payload: text.slice(space + 1) }
}

export function parseSeqFrame (prefix: string, text: string): number | null {
  if (!text.startsWith(prefix)) return null
  const seqText = text.slice(prefix.length)
  if (!SEQ.test(seqText)) return null
  const seq = Number(seqText)
  return Number.isSafeInteger(seq) ? seq : null
}

/** A gap frame: `from` to `to` (null: unknown, e.g. the outbox was forgotten) will never arrive. */
export function parseGapFrame (text: string): { from: number, to: number | null } | null {
  if (!text.startsWith(GAP_PREFIX)) return null
  const [from, to, extra] = text.slice(GAP_PREFIX.length).split(' ')
  if (extra !== undefined || from === undefined || !SEQ.test(from) || to === undefined || (to !== '?' && !SEQ.test(to))) return null
  return { from: Number(from), to: to === '?' ? null : Number(to) }
}

export interface NumberedMessage { session: string, seq: number, payload: string }

/** A numbered message, or null for anything else (the app's own frames pass through untouched). */
export function parseMessageFrame (text: string): NumberedMessage | null {
  if (!text.startsWith(MESSAGE_PREFIX)) return null
  const first = text.indexOf(' ', MESSAGE_PREFIX.length)
  const second = first === -1 ? -1 : text.indexOf(' ', first + 1)
  if (second === -1) return null
  const session = text.slice(MESSAGE_PREFIX.length, first)
  const seqText = text.slice(first + 1, second)
  if (!SESSION_ID.test(session) || !/^[1-9]\d{0,15}$/.test(seqText)) return null
  const seq = Number(seqText)
  if (!Number.isSafeInteger(seq)) return null
  return { session, seq, payload: text.slice(second + 1) }
}

export function parseAckFrame (text: string): { session: string, seq: number } | null {
  if (!text.startsWith(ACK_PREFIX)) return null
  const parts = text.slice(ACK_PREFIX.length).split(' ')
  if (parts.length !== 2 || !SESSION_ID.test(parts[0]) || !/^[1-9]\d{0,15}$/.test(parts[1])) return null
  return { session: parts[0], seq: Number(parts[1]) }
}

/** A session id from the platform's CSPRNG (browsers and Node >= 20 both have globalThis.crypto). */
export function newSessionId (): string {
  const bytes = new Uint8Array(16)
  const c = (globalThis as { crypto?: { getRandomValues?: (a: Uint8Array) => Uint8Array } }).crypto
  if (c?.getRandomValues !== undefined) c.getRandomValues(bytes)
  else for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256)
  let id = ''
  for (const b of bytes) id += b.toString(16).padStart(2, '0')
  return id
}
