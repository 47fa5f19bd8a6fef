import {createHash, timingSafeEqual} from 'node:crypto'

import {z} from 'zod'

import {type Clock, type Sql, systemClock} from '../core/ports.js'
import {MsgrError} from '../errors.js'
import {type HttpContext, type Route, readJson} from '../server/http.js'
import {type CanaryReport, type StatusWithCanary, withCanary} from './canary-status.js'
import {clusterStatus, type DrainPlan, type PartitionView, partitionViews, planDrain} from './cluster-status.js'
import {chooseGateway} from './gateway-routing.js'
import {listLeases} from './leases.js'
import {cancelDrain, type DrainRequest, listNodes, type NodeRecord, requestDrain} from './node-registry.js'
import {shortCache} from './short-cache.js'

// The control plane's HTTP face: the operator API under /v1/admin/* (what `msgr node …`, `msgr partition
// list` and `msgr status` speak) and the public GET /v1/connect that tells a client which gateway to use.

export interface AdminApiOptions {
  /** A node whose heartbeat is older than this is dead. */
  livenessMs: number
  /** When set, every /v1/admin/* route needs `Authorization: Bearer <adminToken>`. */
  adminToken?: string
  /** Partitions the cluster is configured for. */
  partitions: number
  clock?: Clock
  /** The canary as this control plane sees it (src/control-plane/canary.ts); part of the status when given. */
  canary?: () => Promise<CanaryReport>
  /** How long GET /v1/connect reuses one read of the node list (default CONNECT_NODES_TTL_MS; 0 reads every time). */
  connectNodesTtlMs?: number
}

export interface NodesResponse {
  nodes: NodeRecord[]
}
export interface NodeResponse {
  node: NodeRecord
  leases: Array<{partition: number; epoch: number; expiresAt: string}>
}
export interface PartitionsResponse {
  partitions: PartitionView[]
}
export type StatusResponse = StatusWithCanary
export type CanaryResponse = CanaryReport
export interface DrainResponse {
  node: NodeRecord
  drain: DrainRequest
}
export interface DrainDryRunResponse {
  dryRun: true
  plan: DrainPlan
}
export interface UndrainResponse {
  node: NodeRecord
  /** False when the node was not draining (nothing to undo). */
  changed: boolean
}
export interface ConnectResponse {
  node: string
  url: string
}

/**
 * GET /v1/connect answers from a node list at most this old instead of one query per client connect. A node
 * drained through another control plane, or dead, may still be routed to within it: the client is refused
 * by that gateway (503 on a draining one, no answer from a dead one) and asks again.
 */
export const CONNECT_NODES_TTL_MS = 500

export const DRAIN_DEFAULTS = {deadlineSec: 60, force: false, reason: 'drain'} as const

export const drainBodySchema = z.object({
  node: z.string().min(1),
  deadlineSec: z.number().int().min(0).max(7 * 24 * 3600).default(DRAIN_DEFAULTS.deadlineSec),
  force: z.boolean().default(DRAIN_DEFAULTS.force),
  reason: z.string().min(1).max(200).default(DRAIN_DEFAULTS.reason),
  /** Answer with the plan; change nothing. */
  dryRun: z.boolean().default(false),
})
export type DrainBody = z.input<typeof drainBodySchema>

const undrainBodySchema = z.object({node: z.string().min(1)})
const connectQuerySchema = z.uuid()

/** The WebSocket URL of a gateway at `address` (host:port as it advertises itself); wss:// when it serves TLS itself. */
export function gatewayWsUrl(address: string, tls = false): string {
  return `${tls ? 'wss' : 'ws'}://${address}/v1/ws`
}

export function adminRoutes(sql: Sql, options: AdminApiOptions): Route[] {
  const clock = options.clock ?? systemClock
  // The admin routes read fresh; the public connect route shares one read per window (per instance).
  const nodes = () => listNodes(sql, options.livenessMs)
  const connectNodes = shortCache(nodes, options.connectNodesTtlMs ?? CONNECT_NODES_TTL_MS, clock)
  const findNode = async (id: string) => {
    const node = (await nodes()).find((n) => n.id === id)
    if (!node) throw new MsgrError('not_found', `no node ${id}`)
    return node
  }
  const admin = (method: Route['method'], path: string, handler: (ctx: HttpContext) => Promise<unknown>): Route => ({
    method,
    path,
    handler: (ctx) => {
      authorize(ctx, options.adminToken)
      return handler(ctx)
    },
  })

  return [
    admin('GET', '/v1/admin/nodes', async (): Promise<NodesResponse> => ({nodes: await nodes()})),
    admin('GET', '/v1/admin/node', async ({url}): Promise<NodeResponse> => {
      const id = url.searchParams.get('id')
      if (!id) throw new MsgrError('invalid_request', 'id: pass the node id, e.g. /v1/admin/node?id=gw0')
      const node = await findNode(id)
      const leases = (await listLeases(sql)).filter((l) => l.owner === id).map(({partition, epoch, expiresAt}) => ({partition, epoch, expiresAt}))
      return {node, leases}
    }),
    admin('POST', '/v1/admin/drain', async ({req}): Promise<DrainResponse | DrainDryRunResponse> => {
      const body = await readJson(req, drainBodySchema)
      const node = await findNode(body.node)
      if (node.state === 'stopped') throw new MsgrError('conflict', `node ${node.id} is stopped; there is nothing to drain`)
      const now = clock.now()
      const drain: DrainRequest = {
        requestedAt: new Date(now).toISOString(),
        deadlineAt: new Date(now + body.deadlineSec * 1000).toISOString(),
        force: body.force,
        reason: body.reason,
      }
      if (body.dryRun) return {dryRun: true, plan: planDrain(node, await nodes(), await listLeases(sql), drain)}
      const requested = await requestDrain(sql, node.id, drain)
      // A drain through this control plane stops its routing to the node at once.
      connectNodes.invalidate()
      if (!requested) throw new MsgrError('conflict', `node ${node.id} stopped meanwhile; there is nothing to drain`)
      return {node: await findNode(node.id), drain}
    }),
    admin('POST', '/v1/admin/undrain', async ({req}): Promise<UndrainResponse> => {
      const body = await readJson(req, undrainBodySchema)
      const node = await findNode(body.node)
      if (node.state === 'stopped') throw new MsgrError('conflict', `node ${node.id} is stopped; start it again instead`)
      const changed = await cancelDrain(sql, node.id)
      connectNodes.invalidate()
      return {node: await findNode(node.id), changed}
    }),
    admin('GET', '/v1/admin/partitions', async (): Promise<PartitionsResponse> => ({
      partitions: partitionViews(await listLeases(sql), await nodes(), clock.now()),
    })),
    admin('GET', '/v1/admin/status', async (): Promise<StatusResponse> =>
      withCanary(clusterStatus(await nodes(), await listLeases(sql), options.partitions, clock.now()), await options.canary?.()),
    ),
    admin('GET', '/v1/admin/canary', async (): Promise<CanaryResponse> => {
      if (!options.canary) throw new MsgrError('not_found', 'this control plane runs no canary')
      return options.canary()
    }),
    {
      method: 'GET',
      path: '/v1/connect',
      handler: async ({url}): Promise<ConnectResponse> => {
        const user = connectQuerySchema.safeParse(url.searchParams.get('user'))
        if (!user.success) throw new MsgrError('invalid_request', 'user: pass the user id (a UUID), e.g. /v1/connect?user=<uuid>')
        const choice = chooseGateway(await connectNodes.get(), user.data)
        if (!choice) throw new MsgrError('unavailable', 'no active gateway; retry shortly')
        return {node: choice.node, url: gatewayWsUrl(choice.address, choice.tls)}
      },
    },
  ]
}

function authorize({req}: HttpContext, token: string | undefined): void {
  if (token === undefined) return
  const header = req.headers.authorization ?? ''
  const match = /^Bearer\s+(\S+)$/i.exec(header)
  if (!match || !sameSecret(match[1]!, token)) {
    throw new MsgrError('unauthenticated', 'the admin API needs Authorization: Bearer <admin token> (msgr: --admin-token or MSGR_ADMIN_TOKEN)')
  }
}

// Hashing first makes the comparison constant-time whatever the lengths.
function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest()
  const b = createHash('sha256').update(expected).digest()
  return timingSafeEqual(a, b)
}
