import type * as pulumi from '@pulumi/pulumi'

// The deployment's settings: a size preset (dev, prod) with per-key overrides from stack config,
// validated once. Secrets stay pulumi Outputs marked secret from end to end.

export type Size = 'dev' | 'prod'

export interface Resources {
  requests: {cpu: string; memory: string}
  limits: {cpu: string; memory: string}
}

export interface InfraConfig {
  stack: string
  size: Size
  /** Kubernetes namespace everything goes into. */
  k8sNamespace: string
  image: string
  imagePullPolicy: 'Always' | 'IfNotPresent' | 'Never'
  /** msgr's --namespace: prefix of NATS streams/subjects and Redis keys. */
  msgrNamespace: string
  partitions: number
  partitionsPerWorker: number
  logLevel: string
  /** Seconds clients get to move off a terminating gateway (`msgr node drain --deadline`). */
  drainDeadlineSec: number
  gateway: {
    minReplicas: number
    maxReplicas: number
    cpuTargetPercent: number
    /** Average open WebSockets per gateway the HPA aims at (pods metric msgr_ws_connections); 0: CPU only. */
    connectionsPerPod: number
    resources: Resources
    serviceType: 'LoadBalancer' | 'ClusterIP' | 'NodePort'
    serviceAnnotations: Record<string, string>
    maxConnectionsPerUser?: number
  }
  worker: {resources: Resources}
  controlPlane: {replicas: number; resources: Resources; canaryIntervalMs?: number}
  /** Public host name behind an Ingress (nginx), with TLS when tlsSecretName or clusterIssuer is set. */
  ingress?: {host: string; className: string; tlsSecretName?: string; clusterIssuer?: string}
  nats: {replicas: number; storageSize: string; chartVersion?: string; url?: string}
  postgres: {
    instances: number
    storageSize: string
    installOperator: boolean
    operatorChartVersion?: string
    barmanPluginChartVersion?: string
    /** Object-store backups (Barman Cloud plugin; needs cert-manager): s3://bucket/path; credentials from the backup secrets. */
    backup?: {destinationPath: string; endpointURL?: string; retentionPolicy: string; schedule: string}
  }
  redis: {memory: string; url?: string}
  media: {s3Bucket?: string; s3Endpoint?: string; s3Region?: string}
  secrets: InfraSecrets
}

export interface InfraSecrets {
  jwtSecret: pulumi.Input<string>
  adminToken: pulumi.Input<string>
  /** Password of the `msgr` database role CloudNativePG creates. */
  postgresPassword?: pulumi.Input<string>
  /** A database msgr does not manage (CloudNativePG is then not deployed). */
  databaseUrl?: pulumi.Input<string>
  s3AccessKey?: pulumi.Input<string>
  s3SecretKey?: pulumi.Input<string>
  backupAccessKey?: pulumi.Input<string>
  backupSecretKey?: pulumi.Input<string>
}

/** What index.ts reads from (a pulumi.Config satisfies it; tests pass the parsed stack files). */
export interface ConfigSource {
  get(key: string): string | undefined
  getObject<T>(key: string): T | undefined
  getSecret(key: string): pulumi.Output<string> | undefined
}

/** Extra seconds after the drain deadline: `msgr node drain` watches 10 s past it, then SIGTERM's own grace (10 s), plus slack. */
export const TERMINATION_SLACK_SEC = 30

const res = (cpu: string, memory: string, cpuLimit: string, memoryLimit: string): Resources => ({
  requests: {cpu, memory},
  limits: {cpu: cpuLimit, memory: memoryLimit},
})

export const PRESETS: Record<Size, Omit<InfraConfig, 'stack' | 'image' | 'secrets'>> = {
  dev: {
    size: 'dev',
    k8sNamespace: 'msgr',
    imagePullPolicy: 'IfNotPresent',
    msgrNamespace: 'msgr',
    partitions: 32,
    partitionsPerWorker: 32,
    logLevel: 'info',
    drainDeadlineSec: 20,
    gateway: {
      minReplicas: 1,
      maxReplicas: 2,
      cpuTargetPercent: 70,
      connectionsPerPod: 0,
      resources: res('100m', '256Mi', '1', '512Mi'),
      serviceType: 'ClusterIP',
      serviceAnnotations: {},
    },
    worker: {resources: res('100m', '256Mi', '1', '512Mi')},
    controlPlane: {replicas: 2, resources: res('50m', '128Mi', '500m', '256Mi')},
    nats: {replicas: 1, storageSize: '1Gi'},
    postgres: {instances: 1, storageSize: '2Gi', installOperator: true},
    redis: {memory: '128Mi'},
    media: {},
  },
  prod: {
    size: 'prod',
    k8sNamespace: 'msgr',
    imagePullPolicy: 'IfNotPresent',
    msgrNamespace: 'msgr',
    partitions: 64,
    partitionsPerWorker: 16,
    logLevel: 'info',
    drainDeadlineSec: 60,
    gateway: {
      minReplicas: 3,
      maxReplicas: 20,
      cpuTargetPercent: 65,
      connectionsPerPod: 20_000,
      resources: res('1', '2Gi', '2', '4Gi'),
      serviceType: 'LoadBalancer',
      serviceAnnotations: {},
    },
    worker: {resources: res('1', '1Gi', '2', '2Gi')},
    controlPlane: {replicas: 3, resources: res('250m', '256Mi', '1', '512Mi')},
    nats: {replicas: 3, storageSize: '20Gi'},
    postgres: {instances: 3, storageSize: '100Gi', installOperator: true},
    redis: {memory: '2Gi'},
    media: {},
  },
}

/** The stack's settings: preset by `msgr:size` (default: the stack name if it is a preset, else dev), then overrides. */
export function readInfraConfig(source: ConfigSource, stack: string): InfraConfig {
  const sizeName = source.get('size') ?? (stack in PRESETS ? stack : 'dev')
  if (!(sizeName in PRESETS)) throw new Error(`msgr:size must be one of ${Object.keys(PRESETS).join(', ')} (got "${sizeName}")`)
  const preset = PRESETS[sizeName as Size]
  const image = source.get('image')
  if (!image) throw new Error('set the container image: pulumi config set msgr:image ghcr.io/you/msgr:0.1.0')
  const num = (key: string, fallback: number) => {
    const raw = source.get(key)
    if (raw === undefined) return fallback
    const n = Number(raw)
    if (!Number.isInteger(n) || n < 0) throw new Error(`msgr:${key} must be a whole number (got "${raw}")`)
    return n
  }
  const obj = <K extends keyof typeof preset>(key: K) => ({...(preset[key] as object), ...(source.getObject<Partial<(typeof preset)[K]>>(key as string) ?? {})}) as (typeof preset)[K]
  const secret = (key: string) => source.getSecret(key)
  const jwtSecret = secret('jwtSecret')
  const adminToken = secret('adminToken')
  if (!jwtSecret || !adminToken) {
    throw new Error('set the secrets: pulumi config set --secret msgr:jwtSecret "$(openssl rand -base64 48)" and msgr:adminToken "$(openssl rand -hex 24)"')
  }
  const databaseUrl = secret('databaseUrl')
  const postgresPassword = secret('postgresPassword')
  if (!databaseUrl && !postgresPassword) throw new Error('set msgr:postgresPassword (pulumi config set --secret), or msgr:databaseUrl for a database you run yourself')

  const config: InfraConfig = {
    stack,
    ...preset,
    k8sNamespace: source.get('k8sNamespace') ?? preset.k8sNamespace,
    image,
    imagePullPolicy: (source.get('imagePullPolicy') as InfraConfig['imagePullPolicy']) ?? preset.imagePullPolicy,
    msgrNamespace: source.get('msgrNamespace') ?? preset.msgrNamespace,
    partitions: num('partitions', preset.partitions),
    partitionsPerWorker: num('partitionsPerWorker', preset.partitionsPerWorker),
    logLevel: source.get('logLevel') ?? preset.logLevel,
    drainDeadlineSec: num('drainDeadlineSec', preset.drainDeadlineSec),
    gateway: obj('gateway'),
    worker: obj('worker'),
    controlPlane: obj('controlPlane'),
    ingress: source.getObject<InfraConfig['ingress']>('ingress') ?? preset.ingress,
    nats: obj('nats'),
    postgres: obj('postgres'),
    redis: obj('redis'),
    media: obj('media'),
    secrets: {
      jwtSecret,
      adminToken,
      postgresPassword,
      databaseUrl,
      s3AccessKey: secret('s3AccessKey'),
      s3SecretKey: secret('s3SecretKey'),
      backupAccessKey: secret('backupAccessKey'),
      backupSecretKey: secret('backupSecretKey'),
    },
  }
  validate(config)
  return config
}

/** Workers needed so that each holds at most partitionsPerWorker partitions. */
export function workerReplicas(config: Pick<InfraConfig, 'partitions' | 'partitionsPerWorker'>): number {
  return Math.max(1, Math.ceil(config.partitions / Math.max(1, config.partitionsPerWorker)))
}

/** Each msgr process keeps a pool of 10 Postgres connections (control planes one more for leadership): room for all at full scale. */
export function postgresMaxConnections(config: Pick<InfraConfig, 'gateway' | 'controlPlane' | 'partitions' | 'partitionsPerWorker'>): number {
  const processes = config.gateway.maxReplicas + workerReplicas(config) + config.controlPlane.replicas + 2 // + migration Job, an operator shell
  return Math.max(100, processes * 12 + 20)
}

export function terminationGraceSec(config: Pick<InfraConfig, 'drainDeadlineSec'>): number {
  return config.drainDeadlineSec + TERMINATION_SLACK_SEC
}

function validate(c: InfraConfig): void {
  const problems: string[] = []
  if (c.partitions < 1 || c.partitions > 4096) problems.push('msgr:partitions must be 1..4096')
  if (c.partitionsPerWorker < 1) problems.push('msgr:partitionsPerWorker must be at least 1')
  if (c.controlPlane.replicas < 2) problems.push('msgr:controlPlane.replicas must be at least 2 (leader election needs a standby)')
  if (c.gateway.minReplicas < 1 || c.gateway.maxReplicas < c.gateway.minReplicas) problems.push('msgr:gateway needs 1 <= minReplicas <= maxReplicas')
  if (c.nats.replicas !== 1 && c.nats.replicas < 3) problems.push('msgr:nats.replicas must be 1 or 3+ (JetStream clustering needs a quorum)')
  if (c.postgres.backup && !(c.secrets.backupAccessKey && c.secrets.backupSecretKey)) {
    problems.push('msgr:postgres.backup needs msgr:backupAccessKey and msgr:backupSecretKey (pulumi config set --secret)')
  }
  if (Boolean(c.secrets.s3AccessKey) !== Boolean(c.secrets.s3SecretKey)) problems.push('set both msgr:s3AccessKey and msgr:s3SecretKey, or neither')
  if (problems.length > 0) throw new Error(`invalid stack configuration:\n  ${problems.join('\n  ')}`)
}
