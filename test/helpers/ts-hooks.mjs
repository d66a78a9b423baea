// Module hooks for the unit tier (npm run test:unit): TypeScript compiled by esbuild, one file at a time, no type
// checking. ts-node (tap's default loader) loads the TypeScript compiler into every test process, which cost about
// 3 s of CPU per file, most of the unit tier's time on two cores. Types are checked by `npm run typecheck`.
import { readFile } from 'node:fs/promises'
import { transform } from 'esbuild'

const TS = /\.[cm]?ts$/
// NodeNext sources import './x.js' for ./x.ts: try the TypeScript file when the JavaScript one is not there.
const JS_TO_TS = { '.js': '.ts', '.mjs': '.mts', '.cjs': '.cts' }

export async function resolve (specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context)
  } catch (err) {
    const ext = /\.[cm]?js$/.exec(specifier)?.[0]
    if (err?.code !== 'ERR_MODULE_NOT_FOUND' || ext === undefined || !/^(\.|\/|file:)/.test(specifier)) throw err
    return nextResolve(specifier.slice(0, -ext.length) + JS_TO_TS[ext], context)
  }
}

export async function load (url, context, nextLoad) {
  if (!url.startsWith('file:') || !TS.test(new URL(url).pathname)) return nextLoad(url, context)
  const path = new URL(url).pathname
  const format = path.endsWith('.cts') ? 'commonjs' : 'module'
  const { code } = await transform(await readFile(path, 'utf8'), {
    loader: 'ts',
    format: format === 'module' ? 'esm' : 'cjs',
    target: 'node20',
    sourcemap: 'inline',
    sourcefile: path,
    // Same class-field semantics as tsc with the project's target (ES2022).
    tsconfigRaw: { compilerOptions: { target: 'ES2022', useDefineForClassFields: true } }
  })
  return { format, source: code, shortCircuit: true }
}
