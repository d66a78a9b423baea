import { expect, test } from 'tstyche'
import { bearerToken } from '../../index.js'

// Issue 27: the docs' `bearerToken(process.env.TOKEN)` must compile; an unset variable fails at registration.
test('bearerToken takes what the environment gives', () => {
  expect(bearerToken(process.env.STATUS_TOKEN)).type.not.toRaiseError()
  expect(bearerToken(['a-long-shared-secret-token', 'the-next-rotated-secret-token'])).type.not.toRaiseError()
  expect(bearerToken(42)).type.toRaiseError()
})
