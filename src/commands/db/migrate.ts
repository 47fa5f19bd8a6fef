import {Command, Flags} from '@oclif/core'

import {createPgliteSql} from '../../adapters/pglite/sql.js'
import {createPostgresSql} from '../../adapters/postgres/sql.js'
import {migrate, type MigrateResult} from '../../core/store/migrate.js'

export default class DbMigrate extends Command {
  static override description = 'Apply pending schema migrations (Postgres, or the embedded database of a data dir)'
  static override examples = ['<%= config.bin %> db migrate --database-url postgres://msgr@127.0.0.1/msgr', '<%= config.bin %> db migrate --data-dir .msgr']
  static override enableJsonFlag = true
  static override flags = {
    'database-url': Flags.string({description: 'Postgres URL', env: 'MSGR_DATABASE_URL', exclusive: ['data-dir']}),
    'data-dir': Flags.string({description: 'Data dir of an embedded (serve all) node that is not running', env: 'MSGR_DATA_DIR'}),
  }

  async run(): Promise<MigrateResult> {
    const {flags} = await this.parse(DbMigrate)
    if (!flags['database-url'] && !flags['data-dir']) this.error('pass --database-url (or MSGR_DATABASE_URL), or --data-dir for an embedded node', {exit: 2})
    const sql = flags['database-url'] ? createPostgresSql({url: flags['database-url'], max: 1}) : await createPgliteSql({dataDir: `${flags['data-dir']}/pg`})
    try {
      const result = await migrate(sql)
      this.log(result.applied.length === 0 ? `schema up to date (version ${result.current})` : result.applied.map((m) => `applied ${m.version} ${m.name}`).join('\n'))
      return result
    } finally {
      await sql.close()
    }
  }
}
