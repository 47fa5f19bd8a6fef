import {decodeRequest} from '../src/protocol/codec.js'
import {type Comparison, compareSync, fmtInt, fmtRatio, round} from './measure.js'
import type {Table} from './table.js'

// The gateway's per-frame cost: decodeRequest (UTF-8 check, JSON.parse, shape checks, zod validation)
// against the floor any JSON gateway pays, a bare JSON.parse of the same bytes.

export interface CodecCase {
  name: string
  frame: Buffer
  /** decodeRequest must accept (true) or refuse (false) the frame, or the case is measuring the wrong path. */
  valid: boolean
}

export interface CodecRun extends Comparison {
  case: string
  bytes: number
  /** Extra time decodeRequest spends per frame over the bare parse. */
  overheadNs: number
}

export interface CodecResult {
  baseline: string
  runs: CodecRun[]
}

const CONVERSATION = '0192f1c4-8a6e-7b3d-9c1f-2e4a6b8d0f13'

export const CODEC_CASES: readonly CodecCase[] = [
  {
    name: 'send (text body) — typical',
    frame: frame({id: '1842', op: 'send', conversation: CONVERSATION, clientMsgId: 'c-1842', kind: 'text', body: 'hey, are we still on for lunch tomorrow?'}),
    valid: true,
  },
  {
    name: 'send (object body, replyTo)',
    frame: frame({
      id: '1843',
      op: 'send',
      conversation: CONVERSATION,
      clientMsgId: 'c-1843',
      kind: 'text',
      body: {text: 'sure, 12:30 at the usual place', mentions: ['0192f1c4-8a6e-7b3d-9c1f-2e4a6b8d0f14'], format: 'plain'},
      replyTo: 417,
    }),
    valid: true,
  },
  {name: 'ping', frame: frame({id: '1844', op: 'ping'}), valid: true},
  {
    name: 'send refused (bad uuid) — error path',
    frame: frame({id: '1845', op: 'send', conversation: 'not-a-uuid', clientMsgId: 'c-1845', kind: 'text', body: 'hi'}),
    valid: false,
  },
]

export function benchCodec(options: {rounds?: number; roundMs?: number} = {}): {result: CodecResult; tables: Table[]} {
  const runs: CodecRun[] = []
  for (const c of CODEC_CASES) {
    const decoded = decodeRequest(c.frame)
    if (decoded.ok !== c.valid) throw new Error(`codec case "${c.name}": expected ok=${c.valid}, got ${JSON.stringify(decoded)}`)
    const cmp = compareSync(
      `codec/${c.name}`,
      () => JSON.parse(c.frame.toString('utf8')),
      () => decodeRequest(c.frame),
      options,
    )
    runs.push({case: c.name, bytes: c.frame.byteLength, ...cmp, overheadNs: round(1e9 / cmp.subject - 1e9 / cmp.baseline, 0)})
  }
  const result: CodecResult = {baseline: "JSON.parse(frame.toString('utf8'))", runs}
  const table: Table = {
    title: 'codec — decodeRequest vs bare JSON.parse of the same frame',
    columns: ['frame', 'bytes', 'JSON.parse ops/s', 'decodeRequest ops/s', 'ratio', 'overhead/frame'],
    rows: runs.map((r) => [r.case, r.bytes, fmtInt(r.baseline), fmtInt(r.subject), fmtRatio(r.ratio), `${fmtInt(r.overheadNs)} ns`]),
    notes: [
      'ratio = decodeRequest ops/s ÷ JSON.parse ops/s (below 1: the price of validation at the edge).',
      `median of ${runs[0]?.rounds ?? 0} alternating rounds per side; input is a Buffer, as ws hands it to the gateway.`,
    ],
  }
  return {result, tables: [table]}
}

function frame(value: object): Buffer {
  return Buffer.from(JSON.stringify(value))
}
