'use strict'
// Loaded by the `fastify` stand-in that the compatibility runner puts in front of the peer package's
// tests (see run.mjs). It wraps the factory and the instances' `register` so that fastify-readiness is
// registered right after every registration of the plugin under test, the way a user would write it,
// without editing a line of the peer's test files. Public API only: `register` is the documented method.
const real = require(process.env.COMPAT_REAL_FASTIFY)
const target = require(process.env.COMPAT_PLUGIN)
const scenario = process.env.COMPAT_SCENARIO

// require() of our ESM build works on every Node in `engines` (^20.19.0 || >=22.12.0).
const readiness = require(process.env.COMPAT_READINESS).default

function isTarget (plugin) {
  return plugin === target || (plugin != null && plugin.default === target)
}

function scenarioOptions () {
  // under-pressure's statusRoute tests assert, through an onRoute hook, that the only route added in
  // their instance is under-pressure's own status route; the suite's /health/* routes would be a second.
  // Without @fastify/websocket there is no gate to configure (`websocket` must be false there), so for
  // under-pressure `hold` and `reject` are the same scenario: a probe that passes after 200 ms.
  if (process.env.COMPAT_SUITE === 'under-pressure') {
    const { probes } = gateOptions()
    return probes === undefined ? { health: false, websocket: false } : { health: false, websocket: false, probes }
  }
  return gateOptions()
}

function gateOptions () {
  if (scenario === 'ready') return {}
  // A dependency that comes up 200 ms after registration: upgrades arriving before then meet the gate.
  const readyAt = Date.now() + 200
  const probes = {
    'compat-warmup': async () => { if (Date.now() < readyAt) throw new Error('warming up') }
  }
  if (scenario === 'hold') return { probes, websocket: { mode: 'hold' } }
  if (scenario === 'reject') return { probes, websocket: { mode: 'reject' } }
  throw new Error(`unknown COMPAT_SCENARIO ${scenario}`)
}

function patch (app) {
  const register = app.register
  // Own property on the root instance; encapsulated children inherit it through their prototype.
  app.register = function registerThenReadiness (plugin, opts) {
    const result = register.call(this, plugin, opts)
    if (isTarget(plugin)) register.call(this, readiness, scenarioOptions())
    return result
  }
  return app
}

function wrapped (...args) {
  const app = real(...args)
  return scenario === 'baseline' ? app : patch(app)
}
Object.assign(wrapped, real)
wrapped.fastify = wrapped
wrapped.default = wrapped
module.exports = wrapped
