import type { Duplex } from 'node:stream'

/**
 * While an upgrade is held, its client must send nothing: RFC 6455 lets a
 * client send frames only after the 101. A client that sends data anyway (or
 * 64 KiB of it followed by a FIN, which Node would never surface as 'end'
 * behind unread data) is not waiting for a WebSocket: it loses its slot.
 * Watches with a 'readable' listener, which reads nothing, so a legitimate
 * client's bytes stay where ws will find them; removing the listener hands
 * the stream back in its original (unpaused) state.
 */
export function watchHeldSocket (socket: Duplex): { onViolation: (violation: () => void) => () => void } {
  return {
    onViolation (violation) {
      const onReadable = (): void => {
        if (socket.readableLength > 0) {
          violation()
          return
        }
        socket.read() // at EOF: lets 'end' fire, which ends the hold
      }
      socket.on('readable', onReadable)
      return () => { socket.removeListener('readable', onReadable) }
    }
  }
}
