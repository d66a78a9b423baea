import { connect } from 'node:net'
import { ReadinessOptionError } from '../../common/errors.js'
import { describe } from '../../common/options.js'
import { closable, type ClosableCheck } from './closable.js'

export interface TcpProbeOptions {
  host?: string
  port: number
}

/** Passes when a TCP connection to host:port opens; the connection is closed at once. */
export function tcpProbe ({ host = '127.0.0.1', port }: TcpProbeOptions): ClosableCheck {
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new ReadinessOptionError('tcpProbe.port', `must be a port number (1-65535), got ${describe(port)}`)
  }
  return closable('system', (signal) => new Promise<void>((resolve, reject) => {
    const socket = connect({ host, port, signal })
    socket.once('connect', () => { socket.destroy(); resolve() })
    socket.once('error', (err) => { socket.destroy(); reject(err) })
  }))
}
