import {readFileSync} from 'node:fs'
import {fileURLToPath} from 'node:url'

import * as pulumi from '@pulumi/pulumi'
import {parse} from 'yaml'

import {type ConfigSource, type InfraConfig, readInfraConfig} from '../../infra/src/config.js'
import {deploy} from '../../infra/src/deploy.js'

// Runs the Pulumi program in-process against mocks (no CLI, no cluster) and records every resource it
// registers, so tests can look at the Kubernetes objects it would create.

/** The marker Pulumi puts around secret values when it serializes them. */
const SECRET_SIG = '4dabf18193072939515e22adb298388d'

export interface Recorded {
  type: string
  name: string
  inputs: any
}

export interface StackRun {
  config: InfraConfig
  resources: Recorded[]
  publicUrl: string
  of(type: string): Recorded[]
  one(type: string, name: string): Recorded
}

export const TEST_SECRETS = {
  jwtSecret: 'test-jwt-secret-0123456789-abcdefghijklmnop',
  adminToken: 'test-admin-token-0123456789',
  postgresPassword: 'pg p@ss/word?',
  backupAccessKey: 'AKIATESTBACKUP',
  backupSecretKey: 'backup-secret-key-xyz',
  s3AccessKey: 'AKIATESTMEDIA',
  s3SecretKey: 'media-secret-key-xyz',
} as const

let recorded: Recorded[] = []
let mocked: Promise<void> | undefined

function installMocks(): Promise<void> {
  mocked ??= pulumi.runtime.setMocks(
    {
      newResource(args) {
        recorded.push({type: args.type, name: args.name, inputs: args.inputs})
        const state = {...args.inputs}
        // A cloud load balancer that got a host name.
        if (args.type === 'kubernetes:core/v1:Service' && args.inputs.spec?.type === 'LoadBalancer') {
          state.status = {loadBalancer: {ingress: [{hostname: 'lb.example.net'}]}}
        }
        return {id: `${args.name}-id`, state}
      },
      call: (args) => args.inputs,
    },
    'msgr',
    'test',
    false,
  )
  return mocked
}

export function infraFile(name: string): string {
  return fileURLToPath(new URL(`../../infra/${name}`, import.meta.url))
}

/** The stack's `config:` block as pulumi.Config would serve it (keys without the `msgr:` prefix). */
export function stackSource(stack: string, overrides: Record<string, unknown> = {}, secrets: Record<string, string> = TEST_SECRETS): ConfigSource {
  const file = parse(readFileSync(infraFile(`Pulumi.${stack}.yaml`), 'utf8')) as {config: Record<string, unknown>}
  const values: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(file.config)) values[key.replace(/^msgr:/, '')] = value
  Object.assign(values, overrides)
  return {
    get: (key) => (values[key] === undefined ? undefined : typeof values[key] === 'object' ? JSON.stringify(values[key]) : String(values[key])),
    getObject: <T>(key: string) => values[key] as T | undefined,
    getSecret: (key) => (key in secrets ? pulumi.secret(secrets[key]!) : undefined),
  }
}

export async function runStack(stack: string, source: ConfigSource = stackSource(stack)): Promise<StackRun> {
  await installMocks()
  recorded = []
  const config = readInfraConfig(source, stack)
  const deployed = deploy(config)
  const publicUrl = await new Promise<string>((resolve) => deployed.publicUrl.apply(resolve))
  // Waits until every registration has reached the mocks.
  await pulumi.runtime.disconnect()
  const resources = recorded
  const of = (type: string) => resources.filter((r) => r.type === type || r.type.endsWith(`:${type}`))
  return {
    config,
    resources,
    publicUrl,
    of,
    one(type, name) {
      const found = of(type).filter((r) => r.name === name)
      if (found.length !== 1) throw new Error(`expected one ${type} named ${name}, found ${found.length}`)
      return found[0]!
    },
  }
}

export function isSecretValue(value: unknown): value is {value: unknown} {
  return typeof value === 'object' && value !== null && SECRET_SIG in value
}

/** Container spec of a Deployment's single container. */
export function container(deployment: Recorded): any {
  return deployment.inputs.spec.template.spec.containers[0]
}
