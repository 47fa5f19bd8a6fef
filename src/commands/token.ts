import {Command, Flags} from '@oclif/core'

import {createPostgresSql} from '../adapters/postgres/sql.js'
import {createAuthService, type TokenPair} from '../core/auth/auth-service.js'
import {createLogSmsSink} from '../core/auth/sms.js'
import {silentLogger} from '../core/logger.js'
import {loginWithDevOtp} from '../client/client.js'

export default class Token extends Command {
  static override description = `Get an access/refresh token pair for a phone number (tests and operators).
By default it logs in through a development server's OTP endpoint (--url, server started with --dev).
With --database-url it issues tokens directly (admin path, needs the cluster's --jwt-secret).`
  static override examples = [
    '<%= config.bin %> token --phone +15550001111',
    '<%= config.bin %> token --phone +15550001111 --json | jq -r .accessToken',
    '<%= config.bin %> token --phone +15550001111 --database-url postgres://msgr@db/msgr --jwt-secret "$MSGR_JWT_SECRET"',
  ]
  static override enableJsonFlag = true
  static override flags = {
    phone: Flags.string({description: 'E.164 phone number, e.g. +15550001111', required: true}),
    url: Flags.string({description: 'Base URL of a gateway started with --dev', env: 'MSGR_URL', default: 'http://127.0.0.1:8080'}),
    'database-url': Flags.string({description: 'Issue directly against this Postgres (admin)', env: 'MSGR_DATABASE_URL'}),
    'jwt-secret': Flags.string({description: 'The cluster JWT secret (with --database-url)', env: 'MSGR_JWT_SECRET'}),
    'device-name': Flags.string({description: 'Name of the new device', default: 'msgr-cli'}),
    platform: Flags.string({description: 'Platform of the new device', default: 'cli'}),
  }

  async run(): Promise<TokenPair> {
    const {flags} = await this.parse(Token)
    const device = {name: flags['device-name'], platform: flags.platform}
    let pair: TokenPair
    if (flags['database-url']) {
      if (!flags['jwt-secret']) this.error('--database-url needs --jwt-secret (or MSGR_JWT_SECRET): the secret your gateways use', {exit: 2})
      const sql = createPostgresSql({url: flags['database-url'], max: 1})
      try {
        const auth = createAuthService({sql, sms: createLogSmsSink(silentLogger()), jwtSecret: flags['jwt-secret']})
        pair = await auth.issueForPhone(flags.phone, device)
      } finally {
        await sql.close()
      }
    } else {
      pair = await loginWithDevOtp(flags.url, flags.phone, device).catch((error: Error) =>
        this.error(`could not log in through ${flags.url}: ${error.message} (is it running with --dev?)`, {exit: 1}),
      )
    }
    this.log(`user    ${pair.userId}\ndevice  ${pair.deviceId}\naccess  ${pair.accessToken}\nrefresh ${pair.refreshToken}`)
    return pair
  }
}
