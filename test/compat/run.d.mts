export interface CompatTest { status: 'pass' | 'fail' | 'skip' | 'todo', name: string, id: string, error?: string, failureType?: string }
export interface CompatResult {
  suite: string
  pkg: string
  version: string
  scenario: string
  total: number
  pass: number
  fail: number
  skip: number
  ms: number
  failed: CompatTest[]
  /** Tests an earlier scenario of this run reported and this one did not (a hang cut the file short). */
  missing: string[]
  problems: string[]
}
export const SCENARIOS: string[]
export const SUITES: Record<string, { pkg: string, testDir: string, scenarios: string[], testTimeoutMs: number, fileTimeoutMs: number }>
export const REJECT_ALLOWLIST: Record<string, Set<string>>
export function runSuite (suite: string, scenarios?: string[], log?: (line: string) => void): Promise<CompatResult[]>
