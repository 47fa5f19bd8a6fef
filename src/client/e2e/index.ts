// The end-to-end encryption client (docs/e2e.md): what the chat UI and other clients import.

export {address, type DecryptFailure, type DecryptResult, E2eDevice, type E2eOpenOptions, type E2eTransport, type EncryptedEvent} from './device.js'
export {formatSafetyNumber} from './safety-number.js'
export type {PlainRecord} from './state.js'
