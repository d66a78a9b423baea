// The unit tier's TypeScript loader (npm run test:unit: tap --node-arg=--require=./test/helpers/ts-register.cjs).
// Preloaded with --require, so it runs before tap's own --import of ts-node, and tells tap's TypeScript plugin
// to skip ts-node in this process: test/helpers/ts-hooks.mjs compiles the .ts files instead (see there why).
const { register } = require('node:module')
const { pathToFileURL } = require('node:url')

process.env.TAP_TYPE_STRIP_ONLY = '1'
// tap puts its process tracker in NODE_OPTIONS, so every node a test spawns loaded it (0.4 s of CPU each).
// The unit tier collects no coverage, so the processes a test starts run without it.
process.env.NODE_OPTIONS = (process.env.NODE_OPTIONS ?? '').replace(/--import=\S*@tapjs\/processinfo\S*/g, '').trim()
register(pathToFileURL(require.resolve('./ts-hooks.mjs')).href)
