import * as k8s from '@pulumi/kubernetes'
import * as pulumi from '@pulumi/pulumi'

import {type InfraConfig, postgresMaxConnections} from './config.js'

// What msgr stands on: NATS with JetStream (the official chart), Postgres (a CloudNativePG cluster) and
// Redis (one soft-state instance: presence, routes, rate limits). Each returns the URL msgr uses.

export const NATS_CHART_REPO = 'https://nats-io.github.io/k8s/helm/charts/'
export const CNPG_CHART_REPO = 'https://cloudnative-pg.github.io/charts'
export const PG_CLUSTER = 'msgr-pg'
export const PG_APP_SECRET = 'msgr-pg-app'
export const PG_BACKUP_SECRET = 'msgr-pg-backup'
export const PG_OBJECT_STORE = 'msgr-pg-store'
export const BARMAN_PLUGIN = 'barman-cloud.cloudnative-pg.io'

export interface DataService {
  /** Plain URL (no credentials) for the ConfigMap, or a secret URL for the Secret. */
  url: pulumi.Input<string>
  ready: pulumi.Resource[]
}

export function deployNats(config: InfraConfig, ns: string, opts: pulumi.CustomResourceOptions): DataService {
  if (config.nats.url) return {url: config.nats.url, ready: []}
  const name = 'msgr-nats'
  const clustered = config.nats.replicas > 1
  const release = new k8s.helm.v3.Release(
    'nats',
    {
      name,
      namespace: ns,
      chart: 'nats',
      version: config.nats.chartVersion,
      repositoryOpts: {repo: NATS_CHART_REPO},
      values: {
        config: {
          cluster: {enabled: clustered, replicas: config.nats.replicas},
          jetstream: {
            enabled: true,
            fileStore: {enabled: true, pvc: {enabled: true, size: config.nats.storageSize}},
            memoryStore: {enabled: false},
          },
        },
      },
    },
    opts,
  )
  // The chart's client Service is named after the release.
  return {url: `nats://${name}.${ns}.svc:4222`, ready: [release]}
}

export function deployPostgres(config: InfraConfig, ns: string, opts: pulumi.CustomResourceOptions): DataService {
  const {secrets} = config
  if (secrets.databaseUrl) return {url: pulumi.secret(secrets.databaseUrl), ready: []}
  const ready: pulumi.Resource[] = []
  const crdDeps: pulumi.Resource[] = []
  if (config.postgres.installOperator) {
    const operator = new k8s.helm.v3.Release(
      'cnpg-operator',
      {
        name: 'cnpg',
        namespace: 'cnpg-system',
        createNamespace: true,
        chart: 'cloudnative-pg',
        version: config.postgres.operatorChartVersion,
        repositoryOpts: {repo: CNPG_CHART_REPO},
      },
      opts,
    )
    crdDeps.push(operator)
  }
  const password = pulumi.secret(secrets.postgresPassword!)
  const appSecret = new k8s.core.v1.Secret(
    'pg-app',
    {
      metadata: {name: PG_APP_SECRET, namespace: ns},
      type: 'kubernetes.io/basic-auth',
      stringData: pulumi.secret(password.apply((p) => ({username: 'msgr', password: p}))),
    },
    opts,
  )
  // Backups go through the Barman Cloud plugin (CloudNativePG's in-tree barmanObjectStore is deprecated
  // since 1.26 and removed in 1.31): an ObjectStore, WAL archiving on the Cluster, a daily base backup.
  const backup = config.postgres.backup
  const plugins: Array<Record<string, unknown>> = []
  if (backup) {
    if (config.postgres.installOperator) {
      crdDeps.push(
        new k8s.helm.v3.Release(
          'cnpg-barman-cloud',
          {
            name: 'barman-cloud',
            namespace: 'cnpg-system',
            chart: 'plugin-barman-cloud',
            version: config.postgres.barmanPluginChartVersion,
            repositoryOpts: {repo: CNPG_CHART_REPO},
          },
          {...opts, dependsOn: [...crdDeps]},
        ),
      )
    }
    const backupSecret = new k8s.core.v1.Secret(
      'pg-backup',
      {
        metadata: {name: PG_BACKUP_SECRET, namespace: ns},
        stringData: pulumi.secret(
          pulumi.all([secrets.backupAccessKey!, secrets.backupSecretKey!]).apply(([id, key]) => ({ACCESS_KEY_ID: id, ACCESS_SECRET_KEY: key})),
        ),
      },
      opts,
    )
    const store = new k8s.apiextensions.CustomResource(
      'postgres-object-store',
      {
        apiVersion: 'barmancloud.cnpg.io/v1',
        kind: 'ObjectStore',
        metadata: {name: PG_OBJECT_STORE, namespace: ns},
        spec: {
          retentionPolicy: backup.retentionPolicy,
          configuration: {
            destinationPath: backup.destinationPath,
            endpointURL: backup.endpointURL,
            s3Credentials: {
              accessKeyId: {name: PG_BACKUP_SECRET, key: 'ACCESS_KEY_ID'},
              secretAccessKey: {name: PG_BACKUP_SECRET, key: 'ACCESS_SECRET_KEY'},
            },
            wal: {compression: 'gzip'},
            data: {compression: 'gzip'},
          },
        },
      },
      {...opts, dependsOn: [...crdDeps, backupSecret]},
    )
    ready.push(backupSecret, store)
    plugins.push({name: BARMAN_PLUGIN, isWALArchiver: true, parameters: {barmanObjectName: PG_OBJECT_STORE}})
  }
  const cluster = new k8s.apiextensions.CustomResource(
    'postgres',
    {
      apiVersion: 'postgresql.cnpg.io/v1',
      kind: 'Cluster',
      metadata: {name: PG_CLUSTER, namespace: ns},
      spec: {
        instances: config.postgres.instances,
        storage: {size: config.postgres.storageSize},
        bootstrap: {initdb: {database: 'msgr', owner: 'msgr', secret: {name: PG_APP_SECRET}}},
        postgresql: {
          parameters: {max_connections: String(postgresMaxConnections(config))},
          // Every commit waits for one standby (CloudNativePG 1.24+): a failover loses no acknowledged write.
          ...(config.postgres.instances > 1 ? {synchronous: {method: 'any', number: 1, dataDurability: 'required'}} : {}),
        },
        ...(plugins.length > 0 ? {plugins} : {}),
      },
    },
    {...opts, dependsOn: [...crdDeps, appSecret, ...ready]},
  )
  ready.push(appSecret, cluster)
  if (backup) {
    ready.push(
      new k8s.apiextensions.CustomResource(
        'postgres-backup',
        {
          apiVersion: 'postgresql.cnpg.io/v1',
          kind: 'ScheduledBackup',
          metadata: {name: `${PG_CLUSTER}-daily`, namespace: ns},
          spec: {
            schedule: backup.schedule,
            backupOwnerReference: 'self',
            cluster: {name: PG_CLUSTER},
            method: 'plugin',
            pluginConfiguration: {name: BARMAN_PLUGIN},
          },
        },
        {...opts, dependsOn: [cluster]},
      ),
    )
  }
  // CloudNativePG's read-write Service always points at the primary.
  const url = pulumi.secret(password.apply((p) => `postgres://msgr:${encodeURIComponent(p)}@${PG_CLUSTER}-rw.${ns}.svc:5432/msgr`))
  return {url, ready}
}

export function deployRedis(config: InfraConfig, ns: string, labels: Record<string, string>, opts: pulumi.CustomResourceOptions): DataService {
  if (config.redis.url) return {url: config.redis.url, ready: []}
  const name = 'msgr-redis'
  // Soft state only (presence, routes, rate limits): no persistence, so a restart starts empty.
  const statefulSet = new k8s.apps.v1.StatefulSet(
    'redis',
    {
      metadata: {name, namespace: ns, labels},
      spec: {
        serviceName: name,
        replicas: 1,
        selector: {matchLabels: labels},
        template: {
          metadata: {labels},
          spec: {
            securityContext: {runAsNonRoot: true, runAsUser: 999, fsGroup: 999},
            containers: [
              {
                name: 'redis',
                image: 'redis:7.2',
                args: ['--save', '', '--appendonly', 'no', '--maxmemory', redisMaxMemory(config.redis.memory)],
                ports: [{name: 'redis', containerPort: 6379}],
                resources: {requests: {cpu: '50m', memory: config.redis.memory}, limits: {memory: config.redis.memory}},
                readinessProbe: {exec: {command: ['redis-cli', 'ping']}, periodSeconds: 5},
                livenessProbe: {tcpSocket: {port: 'redis'}, periodSeconds: 10},
              },
            ],
          },
        },
      },
    },
    opts,
  )
  const service = new k8s.core.v1.Service('redis', {metadata: {name, namespace: ns, labels}, spec: {selector: labels, ports: [{name: 'redis', port: 6379, targetPort: 'redis'}]}}, opts)
  return {url: `redis://${name}.${ns}.svc:6379`, ready: [statefulSet, service]}
}

/** Redis gets 80% of the container's memory so it never reaches the OOM killer. */
function redisMaxMemory(limit: string): string {
  const m = /^(\d+)(Mi|Gi)$/.exec(limit)
  if (!m) return '100mb'
  const mb = Number(m[1]) * (m[2] === 'Gi' ? 1024 : 1)
  return `${Math.floor(mb * 0.8)}mb`
}
