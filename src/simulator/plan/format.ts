import type {CapacityPlan, ComparisonRow} from './model.js'
import {bytes, count, gbps} from './units.js'

// The plan as text: what to provision, then the model next to the seed's estimates, then where every
// calibration figure comes from.

export function planText(plan: CapacityPlan): string {
  const {traffic: t, gateways: g, workers: w, memory: m, bandwidth: bw, storage: s, database: db, nats, day, inputs} = plan
  const out: string[] = []
  out.push(`Capacity plan: ${count(inputs.mau)} MAU, ${count(inputs.messagesPerDay)} messages/day, ${count(inputs.connections)} connections at peak, ${inputs.peakFactor}× peak, group fanout ${inputs.groupFanout}`)
  out.push(`Servers: ${inputs.server.cores} cores, ${inputs.server.memoryGiB} GiB, ${inputs.server.nicGbps} Gbps; at most ${inputs.server.cpuTarget * 100}% CPU and ${inputs.server.memoryTarget * 100}% memory at peak`)
  out.push('')
  out.push(
    table(
      ['', 'figure', 'detail'],
      [
        ['traffic', `${count(t.averageMessagesPerSecond)} msgs/s avg, ${count(t.peakMessagesPerSecond)} peak`, `${t.recipientsPerMessage.toFixed(2)} recipients/message, ${t.devicesPerOnlineUser.toFixed(2)} devices/online user`],
        ['live deliveries', `${count(t.liveDeliveriesPerSecondPeak)}/s peak`, `${t.liveDeliveriesPerMessage.toFixed(2)} per message; ${count(t.pushNotificationsPerSecondPeak)} push/s to offline recipients`],
        ['gateways', `${count(g.count)}`, `${count(g.connectionsPerGateway)} connections each (${g.limitedBy}-bound; caps: memory ${count(g.caps.memory)}, cpu ${count(g.caps.cpu)}, network ${count(g.caps.network)}, files ${count(g.caps.files)})`],
        ['workers', `${count(w.count)}`, `${count(w.coresAtPeak)} cores busy at peak`],
        ['connection memory', bytes(m.connectionStateBytes), `gateway fleet RAM ${bytes(m.gatewayFleetBytes)}`],
        ['bandwidth', `${gbps(bw.peakGbps)} peak, ${gbps(bw.averageGbps)} avg`, `deliveries ${gbps(bw.deliveriesGbps)}, sends ${gbps(bw.sendsGbps)}, heartbeats ${gbps(bw.heartbeatGbps)}; media ${gbps(bw.mediaAverageGbps)} avg (object store)`],
        ['storage / year', bytes(s.bytesPerYear), `${count(s.messagesPerYear)} messages, ${bytes(s.bytesPerYearOneCopy)} per copy × ${inputs.replication}; ${bytes(s.retainedBytes)} over ${inputs.retentionYears} years; media ${bytes(s.mediaBytesPerYear)}/year`],
        ['database writes', `${count(db.writesPerSecondPeak)} rows/s peak`, `${count(db.primaries)} Postgres primaries (partitions spread over them)`],
        ['NATS', `${count(nats.ingestMessagesPerSecond)} ingest msgs/s`, `${bytes(nats.bytesPerSecond)}/s (ingest ${bytes(nats.ingestBytesPerSecond)}/s, fanout ${bytes(nats.fanoutBytesPerSecond)}/s)`],
        ['virtual day', `peak UTC ${day.peakUtcHour}:00, ${day.peakFactor.toFixed(2)}× mean`, `trough UTC ${day.troughUtcHour}:00, ${day.troughFactor.toFixed(2)}×; busiest minute ${hhmm(day.peakMinute)} at ${day.peakMinuteFactor.toFixed(2)}×`],
      ],
    ),
  )
  out.push('')
  out.push('Next to the seed:')
  out.push(table(['figure', 'seed', 'model', 'why'], plan.comparison.map((r) => [r.figure, show(r, r.seed), show(r, r.model), r.why])))
  out.push('')
  out.push('Calibration:')
  for (const [key, value] of Object.entries(plan.calibration.figures)) {
    out.push(`  ${key} = ${Number(value.toPrecision(4))}  (${plan.calibration.sources[key as keyof typeof plan.calibration.sources]})`)
  }
  return out.join('\n')
}

function show(row: ComparisonRow, value: number): string {
  switch (row.unit) {
    case 'bytes':
      return bytes(value)
    case 'gbps':
      return gbps(value)
    case 'per-second':
      return `${count(value)}/s`
    case 'count':
      return count(value)
  }
}

function hhmm(minute: number): string {
  return `${String(Math.floor(minute / 60)).padStart(2, '0')}:${String(minute % 60).padStart(2, '0')}`
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (i === header.length - 1 ? 0 : r[i]!.length))))
  const line = (cells: string[]) => cells.map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd()
  return [line(header), ...rows.map(line)].join('\n')
}
