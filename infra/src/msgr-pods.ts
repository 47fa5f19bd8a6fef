import type * as k8s from '@pulumi/kubernetes'
import type * as pulumi from '@pulumi/pulumi'

import {type InfraConfig, type Resources, terminationGraceSec} from './config.js'

// The pod template shared by every msgr role: one image, env from the ConfigMap and the Secret, node id
// and advertised address from the downward API, probes on /healthz and /readyz, and for roles that
// hold clients or partitions a preStop hook that drains this pod's node before SIGTERM.

export const HTTP_PORT = 8080

export type MsgrRole = 'gateway' | 'worker' | 'control-plane'

export interface PodNames {
  configMap: string
  secret: string
  /** Hash of the ConfigMap's data: a settings change rolls the pods (with drains) instead of waiting for a restart. */
  configHash: pulumi.Input<string>
}

export function roleLabels(config: InfraConfig, component: string): Record<string, string> {
  return {'app.kubernetes.io/name': 'msgr', 'app.kubernetes.io/instance': config.stack, 'app.kubernetes.io/component': component}
}

/** `msgr node drain` of the pod's own node (MSGR_NODE_ID is the pod name); waits until drained or the deadline passes. */
export function drainCommand(config: Pick<InfraConfig, 'drainDeadlineSec'>): string[] {
  return ['/bin/sh', '-c', `exec msgr node drain "$MSGR_NODE_ID" --deadline ${config.drainDeadlineSec}s --message "pod terminating"`]
}

export function msgrPodTemplate(
  config: InfraConfig,
  role: MsgrRole,
  names: PodNames,
  resources: Resources,
): k8s.types.input.core.v1.PodTemplateSpec {
  const drains = role !== 'control-plane'
  const probe = (path: string, failureThreshold: number): k8s.types.input.core.v1.Probe => ({
    httpGet: {path, port: 'http'},
    periodSeconds: 5,
    timeoutSeconds: 3,
    failureThreshold,
  })
  return {
    metadata: {
      labels: roleLabels(config, role),
      annotations: {
        'prometheus.io/scrape': 'true',
        'prometheus.io/port': String(HTTP_PORT),
        'prometheus.io/path': '/metrics',
        'msgr.dev/config-hash': names.configHash,
      },
    },
    spec: {
      terminationGracePeriodSeconds: drains ? terminationGraceSec(config) : 30,
      securityContext: {runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000, seccompProfile: {type: 'RuntimeDefault'}},
      affinity: config.size === 'prod' ? spreadOverNodes(config, role) : undefined,
      containers: [
        {
          name: 'msgr',
          image: config.image,
          imagePullPolicy: config.imagePullPolicy,
          args: ['serve', role],
          ports: [{name: 'http', containerPort: HTTP_PORT}],
          envFrom: [{configMapRef: {name: names.configMap}}, {secretRef: {name: names.secret}}],
          env: [
            {name: 'MSGR_NODE_ID', valueFrom: {fieldRef: {fieldPath: 'metadata.name'}}},
            {name: 'POD_IP', valueFrom: {fieldRef: {fieldPath: 'status.podIP'}}},
            // Other nodes (and the canary) reach this one at its pod IP; clients come through the Service.
            {name: 'MSGR_ADVERTISE', value: `$(POD_IP):${HTTP_PORT}`},
          ],
          resources,
          startupProbe: probe('/healthz', 30),
          livenessProbe: probe('/healthz', 3),
          readinessProbe: probe('/readyz', 2),
          lifecycle: drains ? {preStop: {exec: {command: drainCommand(config)}}} : undefined,
          securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: ['ALL']}},
          volumeMounts: [{name: 'tmp', mountPath: '/tmp'}],
        },
      ],
      volumes: [{name: 'tmp', emptyDir: {}}],
    },
  }
}

function spreadOverNodes(config: InfraConfig, role: MsgrRole): k8s.types.input.core.v1.Affinity {
  return {
    podAntiAffinity: {
      preferredDuringSchedulingIgnoredDuringExecution: [
        {weight: 100, podAffinityTerm: {topologyKey: 'kubernetes.io/hostname', labelSelector: {matchLabels: roleLabels(config, role)}}},
      ],
    },
  }
}
