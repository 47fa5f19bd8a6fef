import {createHash} from 'node:crypto'

import * as k8s from '@pulumi/kubernetes'
import * as pulumi from '@pulumi/pulumi'

import {type InfraConfig, workerReplicas} from './config.js'
import {deployNats, deployPostgres, deployRedis} from './data-services.js'
import {HTTP_PORT, type MsgrRole, msgrPodTemplate, roleLabels} from './msgr-pods.js'

// Everything msgr needs on one Kubernetes cluster: its data services, config, a migration Job, the
// three roles with probes, drain-on-preStop, disruption budgets and the gateway autoscaler.

export const NAMES = {
  configMap: 'msgr-config',
  secret: 'msgr-secrets',
  gateway: 'msgr-gateway',
  worker: 'msgr-worker',
  controlPlane: 'msgr-control-plane',
} as const

export interface Deployed {
  /** Where clients connect (HTTP base URL; the WebSocket is <url>/v1/ws). */
  publicUrl: pulumi.Output<string>
  controlPlaneUrl: string
  namespace: string
  workerReplicas: number
}

export function deploy(config: InfraConfig, opts: pulumi.CustomResourceOptions = {}): Deployed {
  const ns = config.k8sNamespace
  const namespace = new k8s.core.v1.Namespace('namespace', {metadata: {name: ns}}, opts)
  const inNs: pulumi.CustomResourceOptions = {...opts, dependsOn: [namespace]}

  const nats = deployNats(config, ns, inNs)
  const postgres = deployPostgres(config, ns, inNs)
  const redis = deployRedis(config, ns, roleLabels(config, 'redis'), inNs)
  const controlPlaneUrl = `http://${NAMES.controlPlane}.${ns}.svc:${HTTP_PORT}`

  // Non-secret settings; every MSGR_* name is a flag of `msgr serve` (see `msgr serve gateway --help`).
  const configMap = new k8s.core.v1.ConfigMap(
    'config',
    {
      metadata: {name: NAMES.configMap, namespace: ns},
      data: pulumi.all([nats.url, redis.url]).apply(([natsUrl, redisUrl]) =>
        dropUndefined({
          MSGR_PORT: String(HTTP_PORT),
          MSGR_NAMESPACE: config.msgrNamespace,
          MSGR_PARTITIONS: String(config.partitions),
          MSGR_NATS_URL: natsUrl,
          // JetStream stream replicas: 3 on a clustered NATS (R3 tolerates one server down), 1 on a single server.
          MSGR_STREAM_REPLICAS: String(Math.min(3, config.nats.replicas)),
          MSGR_REDIS_URL: redisUrl,
          MSGR_LOG_FORMAT: 'json',
          MSGR_LOG_LEVEL: config.logLevel,
          MSGR_CONTROL_PLANE_URL: controlPlaneUrl,
          MSGR_MAX_CONNECTIONS_PER_USER: config.gateway.maxConnectionsPerUser?.toString(),
          MSGR_CANARY_INTERVAL_MS: config.controlPlane.canaryIntervalMs?.toString(),
          MSGR_S3_BUCKET: config.media.s3Bucket,
          MSGR_S3_ENDPOINT: config.media.s3Endpoint,
          MSGR_S3_REGION: config.media.s3Region,
        }),
      ),
    },
    inNs,
  )

  const {secrets} = config
  const secret = new k8s.core.v1.Secret(
    'secrets',
    {
      metadata: {name: NAMES.secret, namespace: ns},
      stringData: pulumi.secret(
        pulumi.all([secrets.jwtSecret, secrets.adminToken, postgres.url, secrets.s3AccessKey, secrets.s3SecretKey]).apply(([jwt, admin, db, s3Key, s3Secret]) =>
          dropUndefined({MSGR_JWT_SECRET: jwt, MSGR_ADMIN_TOKEN: admin, MSGR_DATABASE_URL: db, MSGR_S3_ACCESS_KEY: s3Key, MSGR_S3_SECRET_KEY: s3Secret}),
        ),
      ),
    },
    inNs,
  )

  // Schema first: every role refuses to start on an unmigrated database. Auto-named, so a new image is a new Job
  // (a Job's pod template cannot change in place).
  const migrate = new k8s.batch.v1.Job(
    'migrate',
    {
      metadata: {namespace: ns, labels: roleLabels(config, 'migrate')},
      spec: {
        backoffLimit: 10,
        template: {
          metadata: {labels: roleLabels(config, 'migrate')},
          spec: {
            restartPolicy: 'OnFailure',
            securityContext: {runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000},
            containers: [
              {
                name: 'migrate',
                image: config.image,
                imagePullPolicy: config.imagePullPolicy,
                args: ['db', 'migrate'],
                envFrom: [{secretRef: {name: NAMES.secret}}],
                securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: ['ALL']}},
              },
            ],
          },
        },
      },
    },
    // Pulumi waits for the Job to complete; a first deploy also waits for Postgres to bootstrap.
    {...opts, dependsOn: [secret, ...postgres.ready], customTimeouts: {create: '20m', update: '20m'}},
  )

  const roleOpts: pulumi.CustomResourceOptions = {...opts, dependsOn: [configMap, secret, migrate, ...nats.ready, ...redis.ready]}
  const configHash = configMap.data.apply((data) => createHash('sha256').update(JSON.stringify(Object.entries(data ?? {}).sort())).digest('hex').slice(0, 16))
  const names = {configMap: NAMES.configMap, secret: NAMES.secret, configHash}
  const rolling = {type: 'RollingUpdate', rollingUpdate: {maxUnavailable: 0, maxSurge: 1}}
  const deployment = (name: string, role: MsgrRole, replicas: number | undefined, resources: InfraConfig['worker']['resources']) =>
    new k8s.apps.v1.Deployment(
      role,
      {
        metadata: {name, namespace: ns, labels: roleLabels(config, role)},
        spec: {
          replicas,
          selector: {matchLabels: roleLabels(config, role)},
          strategy: rolling,
          template: msgrPodTemplate(config, role, names, resources),
        },
      },
      roleOpts,
    )
  const pdb = (role: MsgrRole) =>
    new k8s.policy.v1.PodDisruptionBudget(
      `${role}-pdb`,
      {metadata: {name: `msgr-${role}`, namespace: ns}, spec: {maxUnavailable: 1, selector: {matchLabels: roleLabels(config, role)}}},
      inNs,
    )

  // Control plane: 2+ replicas elect a leader; its Service stays reachable while the canary holds /readyz red,
  // so `msgr status` and the drain hooks still work when fanout is broken.
  deployment(NAMES.controlPlane, 'control-plane', config.controlPlane.replicas, config.controlPlane.resources)
  new k8s.core.v1.Service(
    'control-plane',
    {
      metadata: {name: NAMES.controlPlane, namespace: ns, labels: roleLabels(config, 'control-plane')},
      spec: {selector: roleLabels(config, 'control-plane'), publishNotReadyAddresses: true, ports: [{name: 'http', port: HTTP_PORT, targetPort: 'http'}]},
    },
    inNs,
  )
  pdb('control-plane')

  // Workers: one per partitionsPerWorker partitions; the control plane spreads the leases.
  deployment(NAMES.worker, 'worker', workerReplicas(config), config.worker.resources)
  pdb('worker')

  // Gateways: the HPA owns the replica count (so the Deployment leaves it unset).
  const gateway = deployment(NAMES.gateway, 'gateway', undefined, config.gateway.resources)
  pdb('gateway')
  new k8s.autoscaling.v2.HorizontalPodAutoscaler(
    'gateway-hpa',
    {
      metadata: {name: NAMES.gateway, namespace: ns},
      spec: {
        scaleTargetRef: {apiVersion: 'apps/v1', kind: 'Deployment', name: NAMES.gateway},
        minReplicas: config.gateway.minReplicas,
        maxReplicas: config.gateway.maxReplicas,
        metrics: [
          {type: 'Resource', resource: {name: 'cpu', target: {type: 'Utilization', averageUtilization: config.gateway.cpuTargetPercent}}},
          ...(config.gateway.connectionsPerPod > 0
            ? [{type: 'Pods', pods: {metric: {name: 'msgr_ws_connections'}, target: {type: 'AverageValue', averageValue: String(config.gateway.connectionsPerPod)}}}]
            : []),
        ],
        // Scaling in drains a gateway (its clients reconnect): do it slowly, one pod at a time.
        behavior: {
          scaleDown: {stabilizationWindowSeconds: 600, policies: [{type: 'Pods', value: 1, periodSeconds: 120}]},
          scaleUp: {stabilizationWindowSeconds: 0, policies: [{type: 'Percent', value: 100, periodSeconds: 60}]},
        },
      },
    },
    {...inNs, dependsOn: [gateway]},
  )

  const ingress = config.ingress
  const gatewayService = new k8s.core.v1.Service(
    'gateway',
    {
      metadata: {name: NAMES.gateway, namespace: ns, labels: roleLabels(config, 'gateway'), annotations: config.gateway.serviceAnnotations},
      spec: {
        type: ingress ? 'ClusterIP' : config.gateway.serviceType,
        selector: roleLabels(config, 'gateway'),
        ports: [{name: 'http', port: 80, targetPort: 'http'}],
      },
    },
    inNs,
  )

  let publicUrl: pulumi.Output<string>
  if (ingress) {
    const tls = Boolean(ingress.tlsSecretName || ingress.clusterIssuer)
    new k8s.networking.v1.Ingress(
      'gateway',
      {
        metadata: {
          name: NAMES.gateway,
          namespace: ns,
          annotations: {
            // WebSockets live for hours: the proxy must not cut idle ones (the server pings every 25 s).
            'nginx.ingress.kubernetes.io/proxy-read-timeout': '3600',
            'nginx.ingress.kubernetes.io/proxy-send-timeout': '3600',
            'nginx.ingress.kubernetes.io/proxy-body-size': '32m',
            ...(ingress.clusterIssuer ? {'cert-manager.io/cluster-issuer': ingress.clusterIssuer} : {}),
          },
        },
        spec: {
          ingressClassName: ingress.className,
          tls: tls ? [{hosts: [ingress.host], secretName: ingress.tlsSecretName ?? 'msgr-gateway-tls'}] : undefined,
          rules: [
            {
              host: ingress.host,
              http: {paths: [{path: '/', pathType: 'Prefix', backend: {service: {name: NAMES.gateway, port: {name: 'http'}}}}]},
            },
          ],
        },
      },
      {...inNs, dependsOn: [gatewayService]},
    )
    publicUrl = pulumi.output(`${tls ? 'https' : 'http'}://${ingress.host}`)
  } else if (config.gateway.serviceType === 'LoadBalancer') {
    publicUrl = gatewayService.status.apply((s) => {
      const lb = s?.loadBalancer?.ingress?.[0]
      return `http://${lb?.hostname ?? lb?.ip ?? 'pending'}`
    })
  } else {
    // In-cluster only: `kubectl -n <ns> port-forward svc/msgr-gateway 8080:80` reaches it from a laptop.
    publicUrl = pulumi.output(`http://${NAMES.gateway}.${ns}.svc`)
  }
  return {publicUrl, controlPlaneUrl, namespace: ns, workerReplicas: workerReplicas(config)}
}

function dropUndefined(record: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(record).filter((e): e is [string, string] => e[1] !== undefined))
}
