/** Where the app runs, read from the environment the platform sets. */
export type PlatformName = 'cloud-run' | 'kubernetes' | 'local'

export interface Platform {
  name: PlatformName
  /** The explicit `environment` option, else NODE_ENV, else `development`. */
  environment: string
  /** Cloud Run service and revision, when set. */
  service?: string
  revision?: string
  /** The longest startup the platform's startup probe can allow, in ms, when known. */
  startupProbeLimitMs?: number
}

/** Cloud Run caps a startup probe at 240 s (periodSeconds x failureThreshold). */
export const CLOUD_RUN_STARTUP_PROBE_LIMIT_MS = 240_000

export function detectPlatform (env: NodeJS.ProcessEnv, environment?: string): Platform {
  const envName = environment ?? (env.NODE_ENV !== undefined && env.NODE_ENV !== '' ? env.NODE_ENV : 'development')
  if (env.K_SERVICE !== undefined || env.K_REVISION !== undefined || env.K_CONFIGURATION !== undefined) {
    const platform: Platform = { name: 'cloud-run', environment: envName, startupProbeLimitMs: CLOUD_RUN_STARTUP_PROBE_LIMIT_MS }
    if (env.K_SERVICE !== undefined) platform.service = env.K_SERVICE
    if (env.K_REVISION !== undefined) platform.revision = env.K_REVISION
    return platform
  }
  if (env.KUBERNETES_SERVICE_HOST !== undefined) return { name: 'kubernetes', environment: envName }
  return { name: 'local', environment: envName }
}
