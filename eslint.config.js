// The Fastify organisation's lint rules: neostandard (standard's style, TypeScript included).
import neostandard from 'neostandard'

export default [
  ...neostandard({
    ts: true,
    ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.tap/**'],
  }),
  {
    // bench/run.js reads package.json with an import attribute (ES2025); neostandard's default is older.
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    languageOptions: { ecmaVersion: 'latest' },
  },
  {
    // `void promise;` marks a deliberate fire-and-forget call; `void` inside an expression stays an error.
    // resolveX/rejectX names are allowed where `resolve` is node:path's (standard allows only resolve/reject).
    rules: {
      'no-void': ['error', { allowAsStatement: true }],
      'promise/param-names': ['error', { resolvePattern: '^_?resolve', rejectPattern: '^_?reject' }],
    },
  },
  {
    // Tests wait with `while (!done) await ...` loops whose condition a callback changes; the rule cannot
    // see writes made in closures, so every such loop is a false positive.
    files: ['test/**'],
    rules: { 'no-unmodified-loop-condition': 'off' },
  },
]
