import {existsSync, readFileSync} from 'node:fs'
import {fileURLToPath} from 'node:url'

import {describe, expect, it} from 'vitest'
import {parse} from 'yaml'

import {canaryFlags} from '../../src/cli/canary-flags.js'
import {adminFlags} from '../../src/cli/admin-command.js'
import {nodeFlags, serviceFlags} from '../../src/cli/flags.js'
import {mediaFlags} from '../../src/cli/media-flags.js'
import {drainCommand} from '../../infra/src/msgr-pods.js'

// No Docker engine here: the Dockerfile and compose.yaml are checked against what the build and the
// binary actually need (package.json, tsconfig.build.json, bin/run.js, the commands and their flags).

const root = (path = '') => fileURLToPath(new URL(`../../${path}`, import.meta.url))
const read = (path: string) => readFileSync(root(path), 'utf8')

interface Instruction {
  op: string
  args: string
}

/** Dockerfile instructions (continuations joined, comments dropped), split into stages. */
function dockerfile(): {stages: Array<{from: string; name?: string; steps: Instruction[]}>} {
  const lines = read('Dockerfile').replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'))
  const stages: Array<{from: string; name?: string; steps: Instruction[]}> = []
  for (const line of lines) {
    const [op, ...rest] = line.split(/\s+/)
    const args = rest.join(' ')
    if (op!.toUpperCase() === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args)!
      stages.push({from: m[1]!, name: m[2], steps: []})
    } else if (stages.length > 0) {
      stages.at(-1)!.steps.push({op: op!.toUpperCase(), args})
    }
  }
  return {stages}
}

const pkg = JSON.parse(read('package.json')) as {scripts: Record<string, string>; bin: Record<string, string>; oclif: {commands: string}}

describe('Dockerfile', () => {
  const {stages} = dockerfile()
  const runtime = stages.at(-1)!
  const steps = (stage: (typeof stages)[number], op: string) => stage.steps.filter((s) => s.op === op).map((s) => s.args)

  it('is multi-stage on a glibc Node base (libsignal ships glibc prebuilds), with the runtime stage last', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2)
    for (const s of stages) {
      expect(s.from).toMatch(/^node:\$\{NODE_VERSION\}-bookworm-slim$/)
      expect(s.from).not.toMatch(/alpine/)
    }
    expect(read('Dockerfile')).toMatch(/^ARG NODE_VERSION=20$/m)
    expect(existsSync(root('node_modules/@signalapp/libsignal-client/prebuilds/linux-x64'))).toBe(true)
  })

  it('compiles with the package build script and ships only production dependencies', () => {
    const build = stages.find((s) => steps(s, 'RUN').some((r) => r.includes('npm run build')))!
    expect(pkg.scripts.build).toBe('tsc -p tsconfig.build.json')
    // Everything tsconfig.build.json compiles is copied into the build stage first.
    const tsBuild = JSON.parse(read('tsconfig.build.json')) as {include: string[]}
    const copied = steps(build, 'COPY').join(' ')
    for (const dir of tsBuild.include) expect(copied).toContain(`${dir} ./${dir}`)
    for (const file of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json']) expect(copied).toContain(file)
    const deps = stages.find((s) => steps(s, 'RUN').some((r) => /npm ci --omit=dev/.test(r)))!
    expect(deps).toBeDefined()
    const runtimeCopies = steps(runtime, 'COPY')
    expect(runtimeCopies).toContain(`--from=${deps.name} /app/node_modules ./node_modules`)
    // oclif finds the commands where package.json says, relative to /app.
    expect(pkg.oclif.commands).toBe('./dist/src/commands')
    expect(runtimeCopies).toContain(`--from=${build.name} /app/dist/src ./dist/src`)
    expect(runtimeCopies).toEqual(expect.arrayContaining(['package.json ./', 'bin ./bin']))
    expect(runtime.steps.some((s) => s.op === 'RUN' && s.args.includes('npm ci'))).toBe(false)
    // libsignal's other-platform binaries are dropped, keeping the one named like `node -p platform-arch`.
    const prune = steps(deps, 'RUN').join(' ')
    expect(prune).toContain(`node -p 'process.platform + "-" + process.arch'`)
    expect(prune).toMatch(/find node_modules\/@signalapp\/libsignal-client\/prebuilds .* ! -name "\$platform" -exec rm -rf/)
    expect(existsSync(root(`node_modules/@signalapp/libsignal-client/prebuilds/${process.platform}-${process.arch}`))).toBe(true)
  })

  it('runs as a non-root user with a health check, the msgr launcher and a default command', () => {
    const user = steps(runtime, 'USER')
    expect(user).toHaveLength(1)
    expect(user[0]).not.toMatch(/^(root|0)(:|$)/)
    expect(steps(runtime, 'HEALTHCHECK').join(' ')).toContain('/healthz')
    expect(steps(runtime, 'ENTRYPOINT')).toEqual(['["node", "/app/bin/run.js"]'])
    expect(pkg.bin.msgr).toBe('./bin/run.js')
    expect(JSON.parse(steps(runtime, 'CMD')[0]!)).toEqual(['serve', 'all'])
    expect(existsSync(root('src/commands/serve/all.ts'))).toBe(true)
    expect(steps(runtime, 'EXPOSE')).toEqual(['8080'])
    // The Kubernetes preStop hook runs `msgr node drain`: the name must be on PATH.
    expect(drainCommand({drainDeadlineSec: 30})[2]).toMatch(/^exec msgr node drain /)
    expect(steps(runtime, 'RUN').join(' ')).toContain('ln -s /app/bin/run.js /usr/local/bin/msgr')
  })

  it('.dockerignore keeps host node_modules and dist out, and everything the build copies in', () => {
    const ignored = read('.dockerignore').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'))
    expect(ignored).toEqual(expect.arrayContaining(['node_modules', 'dist', '.git']))
    for (const needed of ['src', 'bench', 'bin', 'package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json']) {
      expect(ignored).not.toContain(needed)
      expect(existsSync(root(needed))).toBe(true)
    }
  })
})

describe('compose.yaml', () => {
  const compose = parse(read('compose.yaml'), {merge: true}) as {
    services: Record<string, {image?: string; build?: string; command?: string[]; environment?: Record<string, string>; healthcheck?: {test: string[]}; depends_on?: Record<string, {condition: string}>; ports?: string[]}>
  }
  const {services} = compose
  const envNames = new Set([nodeFlags, serviceFlags, mediaFlags, canaryFlags, adminFlags].flatMap((flags) => Object.values(flags).map((f) => (f as {env?: string}).env)))
  const msgrServices = Object.entries(services).filter(([, s]) => s.image === 'msgr:local')

  it('runs postgres, redis, nats with JetStream, a migration, a control plane, two gateways and a worker', () => {
    expect(Object.keys(services).sort()).toEqual(['control-plane', 'gateway-1', 'gateway-2', 'migrate', 'nats', 'postgres', 'redis', 'worker'])
    expect(services.nats!.command).toContain('-js')
    expect(msgrServices.map(([name, s]) => [name, s.command!.join(' ')])).toEqual([
      ['migrate', 'db migrate'],
      ['control-plane', 'serve control-plane'],
      ['gateway-1', 'serve gateway'],
      ['gateway-2', 'serve gateway'],
      ['worker', 'serve worker'],
    ])
  })

  it('every msgr command exists and every MSGR_* variable is one msgr reads', () => {
    for (const [name, s] of msgrServices) {
      const [topic, command] = s.command!
      expect(existsSync(root(`src/commands/${topic}/${command}.ts`)), name).toBe(true)
      expect(s.build).toBe('.')
      for (const key of Object.keys(s.environment ?? {})) expect(envNames, `${name}: ${key}`).toContain(key)
      expect(s.environment!.MSGR_DATABASE_URL).toBe('postgres://msgr:msgr@postgres:5432/msgr')
    }
    // A JWT secret of 32+ characters, the same on every gateway (nodeConfigSchema refuses shorter).
    const jwt = /:-([^}]+)\}/.exec(services['gateway-1']!.environment!.MSGR_JWT_SECRET!)![1]!
    expect(jwt.length).toBeGreaterThanOrEqual(32)
  })

  it('every long-running service has a health check, and msgr starts after the schema and its services', () => {
    for (const [name, s] of Object.entries(services)) {
      if (name === 'migrate') continue
      expect(s.healthcheck?.test, name).toBeDefined()
    }
    expect(services.migrate!.depends_on).toEqual({postgres: {condition: 'service_healthy'}})
    for (const name of ['control-plane', 'gateway-1', 'gateway-2', 'worker']) {
      const deps = services[name]!.depends_on!
      expect(deps.migrate).toEqual({condition: 'service_completed_successfully'})
      expect(deps.nats).toEqual({condition: 'service_healthy'})
      expect(deps.redis).toEqual({condition: 'service_healthy'})
      for (const dep of Object.keys(deps)) expect(services, `${name} depends on ${dep}`).toHaveProperty(dep)
    }
    // Each node has its own id, and gateways advertise an address the other containers resolve.
    const ids = ['control-plane', 'gateway-1', 'gateway-2', 'worker'].map((n) => services[n]!.environment!.MSGR_NODE_ID)
    expect(new Set(ids).size).toBe(4)
    expect(services['gateway-2']!.environment!.MSGR_ADVERTISE).toBe('gateway-2:8080')
    expect(services['gateway-1']!.ports).toEqual(['8081:8080'])
  })
})
