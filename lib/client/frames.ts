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

/** The close a second live incarnation of an exclusive session gets (4xxx: the app's range; not final). */
export const SESSION_IN_USE_CODE = 4409
export const SESSION_IN_USE_REASON = 'delivery session in use; retry in 5s'

/** Session ids: 8-64 characters of [A-Za-z0-9_-], so a frame always splits cleanly. */
export const SESSION_ID = /^[A-Za-z0-9_-]{8,64}$/

export function messageFrame (session: string, seq: number, payload: string): string {
  return `${MESSAGE_PREFIX}${session} ${seq} ${payload}`
}

export function ackFrame (session: string, seq: number): string {
  return `${ACK_PREFIX}${session} ${seq}`
}

export function helloFrame (session: string, incarnation: string): string {
  return `${HELLO_PREFIX}${session} ${incarnation}`
}

/** A hello frame's session and incarnation, or null when `text` is not a valid one. */
export function parseHelloFrame (text: string): { session: string, incarnation: string } | null {
  if (!text.startsWith(HELLO_PREFIX)) return null
  const parts = text.slice(HELLO_PREFIX.length).split(' ')
  if (parts.length !== 2 || !SESSION_ID.test(parts[0]) || !SESSION_ID.test(parts[1])) return null
  return { session: parts[0], incarnation: parts[1] }
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
