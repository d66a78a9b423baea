// What the README's Quick start leaves to the reader, with real behaviour: a Redis that answers only once
// the process gets SIGUSR2 (a cold start the test ends when its clients are waiting), no caches to warm, and an echo handler for both routes. The consumer test puts
// this in front of the Quick start, which it copies from README.md verbatim (only the port changes).
/* eslint-disable @typescript-eslint/no-unused-vars -- the Quick start appended after this file uses them */
import type { WebSocket } from 'ws'
let redisUp = false
process.once('SIGUSR2', () => { redisUp = true }) // the test's clients say when their upgrades are in
const redis = {
  async ping (): Promise<string> {
    if (!redisUp) throw new Error('connect ECONNREFUSED (redis is still starting)')
    return 'PONG'
  }
}
const warmCaches = async (): Promise<void> => {}
const handler = (socket: WebSocket): void => { socket.on('message', (data) => socket.send(data.toString())) }
const chat = handler
