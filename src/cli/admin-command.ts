import {Command, Errors, Flags} from '@oclif/core'

import {AdminApiError, AdminClient} from '../control-plane/admin-client.js'

// Base of the operator commands (node, partition, status): where the control plane is, its token,
// --json, and errors that say what to do. Exit status: 0 ok, 1 error, 2 usage, 3 drain deadline passed.

export const adminFlags = {
  url: Flags.string({description: 'Base URL of a control-plane node (`msgr serve all` includes one)', env: 'MSGR_CONTROL_PLANE_URL', default: 'http://127.0.0.1:8080'}),
  'admin-token': Flags.string({description: "The control plane's --admin-token", env: 'MSGR_ADMIN_TOKEN'}),
}

export abstract class AdminCommand extends Command {
  static override enableJsonFlag = true
  static override baseFlags = adminFlags

  protected adminClient(flags: {url: string; 'admin-token'?: string}, options: {timeoutMs?: number} = {}): AdminClient {
    return new AdminClient({url: flags.url, token: flags['admin-token'] || undefined, ...options})
  }

  protected override async catch(error: Errors.CLIError & {exitCode?: number}): Promise<unknown> {
    const mapped: Errors.CLIError & {exitCode?: number} = error instanceof AdminApiError ? new Errors.CLIError(error.message, {exit: 1, code: error.code}) : error
    // In --json mode oclif takes the status from `exitCode`; its own errors carry it in `oclif.exit` (2: usage).
    if (this.jsonEnabled() && process.exitCode === undefined) process.exitCode = mapped.exitCode ?? mapped.oclif?.exit ?? 1
    return super.catch(mapped)
  }

  /** `{"error": {"code", "message", "exit"}}`: the API's error shape, without oclif's parser internals. */
  protected override toErrorJson(error: unknown): {error: {code?: string; message: string; exit: number}} {
    const e = error as Errors.CLIError & {code?: string}
    return {error: {...(e.code ? {code: e.code} : {}), message: e.message ?? String(error), exit: Number(process.exitCode ?? 1)}}
  }
}
