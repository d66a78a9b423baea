import type { ProbeCheck } from '../probe.js'

/** A probe check that owns a connection; the probe closes it when the app closes. */
export type ClosableCheck = ProbeCheck & { close?: () => Promise<void> }

export function closable (check: ProbeCheck, close?: () => Promise<void>): ClosableCheck {
  const fn = check as ClosableCheck
  if (close !== undefined) fn.close = close
  return fn
}
