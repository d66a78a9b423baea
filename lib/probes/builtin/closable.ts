import type { ProbeCheck } from '../probe.js'

/**
 * A probe check that may own a connection (the probe closes it when the app
 * closes) and names its kind for the IETF health format.
 */
export type ClosableCheck = ProbeCheck & { close?: () => Promise<void>, componentType?: string }

export function closable (componentType: string, check: ProbeCheck, close?: () => Promise<void>): ClosableCheck {
  const fn = check as ClosableCheck
  fn.componentType = componentType
  if (close !== undefined) fn.close = close
  return fn
}
