// The delivery errors live with every other error class of the suite.
export { DeliveryTimeoutError, DeliveryFrameError, DeliverySessionInUseError } from '../common/errors.js'
