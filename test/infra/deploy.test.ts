import {readFileSync} from 'node:fs'
import {fileURLToPath} from 'node:url'

import {beforeAll, describe, expect, it} from 'vitest'
import {parse as parseYaml} from 'yaml'

import {canaryFlags} from '../../src/cli/canary-flags.js'
import {adminFlags} from '../../src/cli/admin-command.js'
import {nodeFlags, serviceFlags} from '../../src/cli/flags.js'
import {mediaFlags} from '../../src/cli/media-flags.js'
import NodeDrain from '../../src/commands/node/drain.js'
import {TERMINATION_SLACK_SEC} from '../../infra/src/config.js'
import {container, infraFile, isSecretValue, runStack, type StackRun, stackSource, TEST_SECRETS} from './pulumi-mocks.js'

// The Pulumi program under mocks: what it would create per stack, and the properties a rollout relies on.

let dev: StackRun
let prod: StackRun

beforeAll(async () => {
  dev = await runStack('dev')
  prod = await runStack('prod')
})

const ROLES = ['gateway', 'worker', 'control-plane'] as const

function countByKind(run: StackRun): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const r of run.resources) {
    const kind = r.type.split(':').pop()!
    counts[kind] = (counts[kind] ?? 0) + 1
  }
  return counts
}

describe('resources per stack', () => {
  it('dev: one of each data service, the three roles, their budgets and the gateway autoscaler', () => {
    expect(countByKind(dev)).toEqual({
      Namespace: 1,
      ConfigMap: 1,
      Secret: 2, // msgr's, the database role's
      Release: 2, // NATS, the CloudNativePG operator
      Cluster: 1,
      StatefulSet: 1, // Redis
      Service: 3, // Redis, control plane, gateway
      Job: 1,
      Deployment: 3,
      PodDisruptionBudget: 3,
      HorizontalPodAutoscaler: 1,
    })
  })

  it('prod adds backups (Barman Cloud plugin, its object store, secret, schedule) and the Ingress', () => {
    expect(countByKind(prod)).toEqual({...countByKind(dev), Release: 3, Secret: 3, ObjectStore: 1, ScheduledBackup: 1, Ingress: 1})
  })

  it('an external database replaces CloudNativePG entirely', async () => {
    const run = await runStack('dev', stackSource('dev', {}, {jwtSecret: TEST_SECRETS.jwtSecret, adminToken: TEST_SECRETS.adminToken, databaseUrl: 'postgres://u:p@db.example:5432/msgr'}))
    expect(run.of('Cluster')).toHaveLength(0)
    expect(run.of('Release').map((r) => r.name)).toEqual(['nats'])
    expect(secretData(run).MSGR_DATABASE_URL).toBe('postgres://u:p@db.example:5432/msgr')
  })
})

describe('replicas and sizes per stack', () => {
  it('control plane runs 2+ replicas (leader + standby), workers are sized to partitions', () => {
    expect(dev.one('Deployment', 'control-plane').inputs.spec.replicas).toBe(2)
    expect(prod.one('Deployment', 'control-plane').inputs.spec.replicas).toBe(3)
    // dev: 32 partitions / 32 per worker; prod: 64 / 16.
    expect(dev.one('Deployment', 'worker').inputs.spec.replicas).toBe(1)
    expect(prod.one('Deployment', 'worker').inputs.spec.replicas).toBe(4)
    expect(configMap(prod).MSGR_PARTITIONS).toBe('64')
  })

  it('the HPA owns the gateway count: 1–2 in dev, 3–20 in prod', () => {
    expect(dev.one('Deployment', 'gateway').inputs.spec.replicas).toBeUndefined()
    expect(hpa(dev).spec).toMatchObject({minReplicas: 1, maxReplicas: 2})
    expect(hpa(prod).spec).toMatchObject({minReplicas: 3, maxReplicas: 20})
  })

  it('NATS is one JetStream server in dev and a 3-node cluster on file storage in prod', () => {
    const values = (run: StackRun) => run.one('Release', 'nats').inputs.values.config
    expect(values(dev).cluster).toEqual({enabled: false, replicas: 1})
    expect(values(prod).cluster).toEqual({enabled: true, replicas: 3})
    expect(values(prod).jetstream).toMatchObject({enabled: true, fileStore: {enabled: true, pvc: {enabled: true, size: '20Gi'}}})
    expect(prod.one('Release', 'nats').inputs).toMatchObject({chart: 'nats', repositoryOpts: {repo: 'https://nats-io.github.io/k8s/helm/charts/'}})
  })

  it('msgr replicates its JetStream streams on a NATS cluster only', () => {
    expect(configMap(dev).MSGR_STREAM_REPLICAS).toBe('1')
    expect(configMap(prod).MSGR_STREAM_REPLICAS).toBe('3')
  })

  it('Postgres is a CloudNativePG cluster: 1 instance in dev, 3 with sync replication and object-store backups in prod', () => {
    const spec = (run: StackRun) => run.one('Cluster', 'postgres').inputs.spec
    expect(dev.one('Cluster', 'postgres').inputs.apiVersion).toBe('postgresql.cnpg.io/v1')
    expect(spec(dev).instances).toBe(1)
    expect(spec(dev).backup).toBeUndefined()
    expect(spec(dev).postgresql.synchronous).toBeUndefined()
    expect(spec(prod)).toMatchObject({
      instances: 3,
      postgresql: {synchronous: {method: 'any', number: 1}},
      plugins: [{name: 'barman-cloud.cloudnative-pg.io', isWALArchiver: true, parameters: {barmanObjectName: 'msgr-pg-store'}}],
    })
    expect(spec(prod).backup).toBeUndefined() // the in-tree barmanObjectStore is gone in CloudNativePG 1.31
    const store = prod.one('ObjectStore', 'postgres-object-store').inputs
    expect(store.apiVersion).toBe('barmancloud.cnpg.io/v1')
    expect(store.metadata.name).toBe('msgr-pg-store')
    expect(store.spec).toMatchObject({retentionPolicy: '30d', configuration: {destinationPath: 's3://example-msgr-backups/postgres', s3Credentials: {accessKeyId: {name: 'msgr-pg-backup'}}}})
    expect(prod.one('ScheduledBackup', 'postgres-backup').inputs.spec).toMatchObject({cluster: {name: 'msgr-pg'}, method: 'plugin', pluginConfiguration: {name: 'barman-cloud.cloudnative-pg.io'}})
    expect(prod.one('Release', 'cnpg-barman-cloud').inputs).toMatchObject({chart: 'plugin-barman-cloud', namespace: 'cnpg-system'})
    // Room for every msgr process's pool of 10 at full scale: (20 gateways + 4 workers + 3 control planes + 2) × 12 + 20.
    expect(spec(prod).postgresql.parameters.max_connections).toBe(String(29 * 12 + 20))
    expect(spec(dev).postgresql.parameters.max_connections).toBe(String((2 + 1 + 2 + 2) * 12 + 20))
  })

  it('resources differ per stack', () => {
    expect(container(dev.one('Deployment', 'gateway')).resources.requests.cpu).toBe('100m')
    expect(container(prod.one('Deployment', 'gateway')).resources.requests.cpu).toBe('1')
  })
})

describe('pods', () => {
  it.each(ROLES)('%s: liveness on /healthz, readiness on /readyz, on the port msgr listens on', (role) => {
    for (const run of [dev, prod]) {
      const c = container(run.one('Deployment', role))
      expect(c.args).toEqual(['serve', role])
      expect(c.livenessProbe.httpGet).toEqual({path: '/healthz', port: 'http'})
      expect(c.readinessProbe.httpGet).toEqual({path: '/readyz', port: 'http'})
      expect(c.ports).toEqual([{name: 'http', containerPort: 8080}])
      expect(configMap(run).MSGR_PORT).toBe('8080')
    }
  })

  it.each(ROLES)('%s: node id is the pod name, advertised address the pod IP, rollouts never go below the desired count', (role) => {
    const d = prod.one('Deployment', role)
    const env = container(d).env as Array<{name: string; value?: string; valueFrom?: any}>
    expect(env.find((e) => e.name === 'MSGR_NODE_ID')?.valueFrom).toEqual({fieldRef: {fieldPath: 'metadata.name'}})
    const podIp = env.findIndex((e) => e.name === 'POD_IP')
    expect(env[podIp]?.valueFrom).toEqual({fieldRef: {fieldPath: 'status.podIP'}})
    // $(POD_IP) expands only when POD_IP is defined earlier in the list.
    expect(env.findIndex((e) => e.name === 'MSGR_ADVERTISE')).toBeGreaterThan(podIp)
    expect(env.find((e) => e.name === 'MSGR_ADVERTISE')?.value).toBe('$(POD_IP):8080')
    expect(d.inputs.spec.strategy.rollingUpdate.maxUnavailable).toBe(0)
    expect(d.inputs.spec.template.spec.securityContext.runAsNonRoot).toBe(true)
  })

  it.each(['gateway', 'worker'] as const)('%s: preStop drains this pod’s node and the grace period outlasts the drain', (role) => {
    for (const run of [dev, prod]) {
      const pod = run.one('Deployment', role).inputs.spec.template.spec
      const command: string[] = pod.containers[0].lifecycle.preStop.exec.command
      const deadline = run.config.drainDeadlineSec
      expect(command.slice(0, 2)).toEqual(['/bin/sh', '-c'])
      expect(command[2]).toBe(`exec msgr node drain "$MSGR_NODE_ID" --deadline ${deadline}s --message "pod terminating"`)
      // msgr node drain watches up to 10 s past the deadline; then SIGTERM's own shutdown needs its grace.
      expect(pod.terminationGracePeriodSeconds).toBe(deadline + TERMINATION_SLACK_SEC)
      expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(deadline + 10 + 10)
    }
  })

  it('the drain hook uses flags and env the real `msgr node drain` command has, and finds the control plane', () => {
    expect(Object.keys(NodeDrain.flags)).toEqual(expect.arrayContaining(['deadline', 'message']))
    expect(NodeDrain.args.id).toBeDefined()
    expect(adminFlags.url.env).toBe('MSGR_CONTROL_PLANE_URL')
    expect(adminFlags['admin-token'].env).toBe('MSGR_ADMIN_TOKEN')
    expect(configMap(prod).MSGR_CONTROL_PLANE_URL).toBe('http://msgr-control-plane.msgr.svc:8080')
    const svc = prod.one('Service', 'control-plane').inputs
    expect(svc.metadata.name).toBe('msgr-control-plane')
    expect(svc.spec.ports[0].port).toBe(8080)
    // Reachable while the canary holds /readyz red, so drains and `msgr status` still work.
    expect(svc.spec.publishNotReadyAddresses).toBe(true)
    expect(prod.one('Deployment', 'control-plane').inputs.spec.template.spec.containers[0].lifecycle).toBeUndefined()
  })

  it('every variable in the ConfigMap and the Secret is one msgr reads', () => {
    const known = new Set(
      [nodeFlags, serviceFlags, mediaFlags, canaryFlags, adminFlags].flatMap((flags) => Object.values(flags).map((f) => (f as {env?: string}).env)),
    )
    for (const run of [dev, prod]) {
      for (const name of [...Object.keys(configMap(run)), ...Object.keys(secretData(run))]) expect(known, name).toContain(name)
    }
  })

  it('a settings change rolls every role: the pods carry a hash of the ConfigMap', async () => {
    const hash = (run: StackRun, role: string) => run.one('Deployment', role).inputs.spec.template.metadata.annotations['msgr.dev/config-hash']
    expect(hash(dev, 'gateway')).toMatch(/^[0-9a-f]{16}$/)
    for (const role of ROLES) expect(hash(dev, role)).toBe(hash(dev, 'gateway'))
    const changed = await runStack('dev', stackSource('dev', {logLevel: 'warn'}))
    expect(hash(changed, 'worker')).not.toBe(hash(dev, 'worker'))
  })

  it('PodDisruptionBudgets let at most one pod of each role go at a time', () => {
    for (const role of ROLES) expect(prod.one('PodDisruptionBudget', `${role}-pdb`).inputs.spec).toMatchObject({maxUnavailable: 1, selector: {matchLabels: {'app.kubernetes.io/component': role}}})
  })

  it('the migration Job runs `msgr db migrate` with the database URL from the Secret', () => {
    const c = dev.one('Job', 'migrate').inputs.spec.template.spec.containers[0]
    expect(c.args).toEqual(['db', 'migrate'])
    expect(c.envFrom).toEqual([{secretRef: {name: 'msgr-secrets'}}])
  })
})

describe('secrets', () => {
  const values = Object.values(TEST_SECRETS)

  it('the Secret holds the JWT secret, admin token and database URL, marked secret', () => {
    for (const run of [dev, prod]) {
      const stringData = run.one('Secret', 'secrets').inputs.stringData
      expect(isSecretValue(stringData)).toBe(true)
      expect(secretData(run)).toMatchObject({MSGR_JWT_SECRET: TEST_SECRETS.jwtSecret, MSGR_ADMIN_TOKEN: TEST_SECRETS.adminToken})
      expect(secretData(run).MSGR_DATABASE_URL).toBe(`postgres://msgr:${encodeURIComponent(TEST_SECRETS.postgresPassword)}@msgr-pg-rw.msgr.svc:5432/msgr`)
    }
    for (const name of ['pg-app', 'pg-backup']) expect(isSecretValue(prod.one('Secret', name).inputs.stringData)).toBe(true)
  })

  it('no secret value appears in the ConfigMap, a pod spec, a Helm value or a custom resource', () => {
    for (const run of [dev, prod]) {
      for (const r of run.resources.filter((r) => !r.type.endsWith(':Secret'))) {
        const text = JSON.stringify(r.inputs)
        for (const v of [...values, encodeURIComponent(TEST_SECRETS.postgresPassword)]) expect(text, `${r.type} ${r.name}`).not.toContain(v)
      }
      for (const d of run.of('Deployment')) expect(container(d).envFrom).toContainEqual({secretRef: {name: 'msgr-secrets'}})
    }
  })

  it('stack files hold no plain-text secret', () => {
    for (const stack of ['dev', 'prod']) {
      const config = (readYaml(infraFile(`Pulumi.${stack}.yaml`)) as {config: Record<string, unknown>}).config
      for (const key of ['jwtSecret', 'adminToken', 'postgresPassword', 'databaseUrl', 'backupAccessKey', 'backupSecretKey', 's3AccessKey', 's3SecretKey']) {
        const value = config[`msgr:${key}`]
        if (value !== undefined) expect(value, `msgr:${key} in Pulumi.${stack}.yaml`).toHaveProperty('secure')
      }
    }
  })
})

describe('autoscaling and the public URL', () => {
  it('the gateway HPA scales on CPU, and in prod on open WebSockets per pod (msgr_ws_connections)', () => {
    const metricsSource = readFileSync(fileURLToPath(new URL('../../src/server/metrics.ts', import.meta.url)), 'utf8')
    expect(metricsSource).toContain("name: 'msgr_ws_connections'")
    expect(hpa(dev).spec.scaleTargetRef).toEqual({apiVersion: 'apps/v1', kind: 'Deployment', name: 'msgr-gateway'})
    expect(hpa(dev).spec.metrics).toEqual([{type: 'Resource', resource: {name: 'cpu', target: {type: 'Utilization', averageUtilization: 70}}}])
    expect(hpa(prod).spec.metrics).toContainEqual({type: 'Pods', pods: {metric: {name: 'msgr_ws_connections'}, target: {type: 'AverageValue', averageValue: '20000'}}})
    expect(hpa(prod).spec.behavior.scaleDown.policies).toEqual([{type: 'Pods', value: 1, periodSeconds: 120}])
  })

  it('public URL: the Ingress host over TLS in prod, the in-cluster Service in dev, the load balancer otherwise', async () => {
    expect(prod.publicUrl).toBe('https://chat.example.com')
    const ingress = prod.one('Ingress', 'gateway').inputs
    expect(ingress.metadata.annotations['nginx.ingress.kubernetes.io/proxy-read-timeout']).toBe('3600')
    expect(ingress.spec.rules[0].http.paths[0].backend.service.name).toBe('msgr-gateway')
    expect(dev.publicUrl).toBe('http://msgr-gateway.msgr.svc')
    const lb = await runStack('prod', stackSource('prod', {ingress: undefined}))
    expect(lb.one('Service', 'gateway').inputs.spec.type).toBe('LoadBalancer')
    expect(lb.publicUrl).toBe('http://lb.example.net')
  })
})

describe('stack config validation', () => {
  it('names the fix for a missing image, missing secrets, a lone control plane and half-set backups', async () => {
    await expect(runStack('dev', stackSource('dev', {image: undefined}))).rejects.toThrow(/pulumi config set msgr:image/)
    await expect(runStack('dev', stackSource('dev', {}, {adminToken: 'x'.repeat(20), postgresPassword: 'p'}))).rejects.toThrow(/--secret msgr:jwtSecret/)
    await expect(runStack('dev', stackSource('dev', {controlPlane: {replicas: 1}}))).rejects.toThrow(/controlPlane.replicas must be at least 2/)
    const {backupAccessKey: _a, backupSecretKey: _b, ...noBackupKeys} = TEST_SECRETS
    await expect(runStack('prod', stackSource('prod', {}, noBackupKeys))).rejects.toThrow(/backupAccessKey/)
    await expect(runStack('dev', stackSource('dev', {size: 'huge'}))).rejects.toThrow(/msgr:size must be one of dev, prod/)
  })
})

function configMap(run: StackRun): Record<string, string> {
  return run.one('ConfigMap', 'config').inputs.data
}

function secretData(run: StackRun): Record<string, string> {
  const stringData = run.one('Secret', 'secrets').inputs.stringData
  return isSecretValue(stringData) ? (stringData.value as Record<string, string>) : stringData
}

function hpa(run: StackRun): any {
  return run.one('HorizontalPodAutoscaler', 'gateway-hpa').inputs
}

function readYaml(path: string): unknown {
  return parseYaml(readFileSync(path, 'utf8'))
}
