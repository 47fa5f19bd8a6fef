import {pino, type Logger} from 'pino'

export type {Logger} from 'pino'

export interface LoggerOptions {
  level?: string
  /** Human-readable lines instead of JSON (development mode). */
  pretty?: boolean
  name?: string
}

// Structured logs; message bodies are never logged.
export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? 'info'
  if (options.pretty) {
    return pino({level, name: options.name, transport: {target: 'pino-pretty', options: {colorize: true, singleLine: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname'}}})
  }
  return pino({level, name: options.name})
}

export function silentLogger(): Logger {
  return pino({level: 'silent'})
}
