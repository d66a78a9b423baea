import t from 'tap'
import { DEFAULT_BACKOFF, HINT_JITTER_MAX_MS, retryDelay } from '../../lib/client/backoff.js'

/**
 * Issue 24: a hint (Retry-After, a 1013's `retry in Ns`, the health route) says when the server expects to
 * be ready, rounded up to a second. The client added up to 50 % (at most 5 s) of jitter on top, and a
 * backoff grown by a cold start's refusals overrode it: told "2 s" it came 2.3-2.9 s later, and after a
 * restart told "1 s" it waited 4-8 s. Now the jitter is at most min(250 ms, hint/4), and the backoff may
 * push a hinted retry no later than a quarter of the time without a healthy connection less 0.5 s (at least
 * 1 s, jittered down by up to 250 ms), so a short outage is not overshot while a long one still backs off. A hint below the floor (Retry-After: 0) is no
 * pace: the backoff applies in full (issue 17). retryDelay is the function the client calls.
 */

const top = (): number => 1 // every random draw at its maximum: the hint's jitter at its latest, the cut's at its earliest

t.test('jitter on a hint is at most min(250 ms, hint / 4)', async (t) => {
  t.equal(HINT_JITTER_MAX_MS, 250)
  t.same(retryDelay(1, 2000, DEFAULT_BACKOFF, top), { delayMs: 2250, source: 'hint' }, 'told 2 s: at most 2.25 s (was up to 3 s)')
  t.same(retryDelay(1, 1000, DEFAULT_BACKOFF, top), { delayMs: 1250, source: 'hint' })
  t.same(retryDelay(1, 600, DEFAULT_BACKOFF, top), { delayMs: 750, source: 'hint' }, 'a quarter of a short hint')
  t.same(retryDelay(1, 2000, DEFAULT_BACKOFF, () => 0), { delayMs: 2000, source: 'hint' }, 'never earlier than the hint when it is the longer')
})

t.test('a grown backoff pushes a hinted retry past the hint by at most a quarter of the stretch', async (t) => {
  // Attempt 8: the backoff's bound is 30 s (250 ms x 2^7, capped).
  t.same(retryDelay(8, 1000, DEFAULT_BACKOFF, top, 4000), { delayMs: 750, source: 'backoff' }, '4 s into an outage, told 1 s: at most 1 s (0.75 s at the latest draw of the cut), not 30 s')
  t.same(retryDelay(8, 1000, DEFAULT_BACKOFF, top, 20_000), { delayMs: 4250, source: 'backoff' }, '20 s in: a quarter less 0.5 s (4.5 s), less its jitter')
  t.same(retryDelay(8, 2000, DEFAULT_BACKOFF, top, 600_000), { delayMs: 30_000, source: 'backoff' }, 'ten minutes of "2 s": the full backoff')
  t.same(retryDelay(8, 1000, DEFAULT_BACKOFF, top), { delayMs: 30_000, source: 'backoff' }, 'the stretch unknown (the old call): hints only lengthen')
  t.same(retryDelay(8, 1000, DEFAULT_BACKOFF, top, Number.NaN), { delayMs: 30_000, source: 'backoff' }, 'NaN is unknown, never a zero delay')
})

t.test('a hint longer than a quarter of the stretch less 0.5 s is cut to it (at least 1 s, jittered down): in within 1 s of ready in a short outage', async (t) => {
  // Measured (bench/client-race.js, reject mode): the gate's guess for a 4 s phase without expectedMs said
  // Retry-After: 6 at 3.3 s, 0.6 s before ready; waiting it out came in 5.7 s after ready.
  t.same(retryDelay(3, 6000, DEFAULT_BACKOFF, top, 3300), { delayMs: 750, source: 'hint' }, 'attempt 3, told 6 s: cut to 1 s less up to 250 ms (issue 24: the 1.25 s this was missed the 1 s bar after a restart)')
  t.same(retryDelay(1, 1000, DEFAULT_BACKOFF, () => 0, 0), { delayMs: 1000, source: 'hint' }, 'at the first refusal, told 1 s: at most 1 s, not cut to the 250 ms backoff')
  t.same(retryDelay(1, 1000, DEFAULT_BACKOFF, top, 0), { delayMs: 750, source: 'hint' }, 'and at least 0.75 s')
  t.same(retryDelay(2, 4000, DEFAULT_BACKOFF, top, 8000), { delayMs: 1250, source: 'hint' }, 'a quarter of 8 s less 0.5 s (1.5 s) beats a 500 ms backoff, less its jitter')
  t.same(retryDelay(2, 1000, DEFAULT_BACKOFF, top, 8000), { delayMs: 1250, source: 'hint' }, 'a hint shorter than both is waited, never less')
})

t.test('a hint below the floor is no pace: the backoff applies in full', async (t) => {
  t.same(retryDelay(8, 0, DEFAULT_BACKOFF, top, 0), { delayMs: 30_000, source: 'backoff' }, 'Retry-After: 0 at attempt 8')
  t.same(retryDelay(1, 0, DEFAULT_BACKOFF, top, 0), { delayMs: 625, source: 'hint' }, 'raised to the floor (500 ms) plus its jitter (a quarter of it)')
  t.same(retryDelay(8, 99_999_999_000, DEFAULT_BACKOFF, top, 0), { delayMs: 60_250, source: 'hint' }, 'a huge hint waits the ceiling (60 s) plus at most 250 ms')
  t.same(retryDelay(1, 60_000, DEFAULT_BACKOFF, top, 0), { delayMs: 60_250, source: 'hint' }, 'and so does one at the ceiling: "much later" is waited out')
})
