// node:test reporter: one JSON line per finished test (suites left out), with the failure's message,
// so the runner can count per scenario and check why a test failed.
export default async function * reporter (source) {
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue
    const data = event.data
    if (data.details?.type === 'suite') continue
    const error = data.details?.error
    let status = event.type === 'test:pass' ? 'pass' : 'fail'
    if (data.skip) status = 'skip'
    else if (data.todo) status = 'todo'
    yield JSON.stringify({
      status,
      name: data.name,
      nesting: data.nesting,
      error: status === 'fail' ? describe(error) : undefined,
      failureType: error?.failureType
    }) + '\n'
  }
}

function describe (error) {
  if (error == null) return 'unknown failure'
  const inner = error.cause ?? error
  return String(inner?.stack ?? inner?.message ?? inner).split('\n').slice(0, 6).join('\n')
}
