import {readFileSync} from 'node:fs'

import {describe, expect, it} from 'vitest'

import {CLOSE, ERRORS} from '../../src/errors.js'

// docs/errors.md is the public copy of the error catalogue: every code, status, retryable flag and
// close code in src/errors.ts must be documented there, and nothing else.

const DOC = 'docs/errors.md'
const markdown = readFileSync(new URL(`../../${DOC}`, import.meta.url), 'utf8')
const tables = parseTables(markdown)

const errorTable = findTable(['code', 'HTTP status', 'retryable', 'meaning', 'where it occurs'])
const closeTable = findTable(['close code', 'name', 'sent by the server when', 'client does'])

describe(`${DOC} error table`, () => {
  const rows = records(errorTable).map((row) => ({
    code: unquote(row['code']!),
    status: row['HTTP status']!,
    retryable: row['retryable']!,
    meaning: row['meaning']!,
    where: row['where it occurs']!,
  }))
  const documented = new Map(rows.map((row) => [row.code, row]))

  it('has one row per code', () => {
    expect(rows.length, 'duplicate rows').toBe(documented.size)
  })

  it('documents exactly the codes of ERRORS', () => {
    const codes = Object.keys(ERRORS)
    const missing = codes.filter((code) => !documented.has(code))
    const stale = [...documented.keys()].filter((code) => !Object.hasOwn(ERRORS, code))
    expect(missing, `codes in src/errors.ts missing from ${DOC}`).toEqual([])
    expect(stale, `codes in ${DOC} that src/errors.ts does not have`).toEqual([])
  })

  it.each(Object.entries(ERRORS))('%s has the HTTP status, retryable flag and meaning of src/errors.ts', (code, spec) => {
    const row = documented.get(code)
    expect(row, `${code} is not in ${DOC}`).toBeDefined()
    expect(row!.status, `${code}: HTTP status`).toBe(String(spec.status))
    expect(row!.retryable, `${code}: retryable`).toBe(spec.retryable ? 'yes' : 'no')
    expect(row!.meaning, `${code}: meaning must be the description in src/errors.ts`).toBe(spec.description)
    expect(row!.where.length, `${code}: say where it occurs`).toBeGreaterThan(0)
  })
})

describe(`${DOC} close-code table`, () => {
  const rows = records(closeTable).map((row) => ({
    code: Number(row['close code']),
    name: unquote(row['name']!),
    when: row['sent by the server when']!,
    action: row['client does']!,
  }))

  it.each(Object.entries(CLOSE))('documents CLOSE.%s (%i)', (name, code) => {
    const row = rows.find((r) => r.code === code)
    expect(row, `close code ${code} (CLOSE.${name}) is not in ${DOC}`).toBeDefined()
    expect(row!.name, `close code ${code}: name`).toBe(name)
    expect(row!.when.length, `close code ${code}: say when it is sent`).toBeGreaterThan(0)
    expect(row!.action.length, `close code ${code}: say what a client does`).toBeGreaterThan(0)
  })

  it('lists no close code that CLOSE does not have, and each once', () => {
    const known = new Set<number>(Object.values(CLOSE))
    expect(rows.filter((r) => !known.has(r.code)).map((r) => r.code)).toEqual([])
    expect(new Set(rows.map((r) => r.code)).size).toBe(rows.length)
  })
})

interface Table {
  header: string[]
  rows: string[][]
}

function findTable(header: string[]): Table {
  const table = tables.find((t) => t.header.length === header.length && t.header.every((h, i) => h === header[i]))
  if (!table) throw new Error(`${DOC} has no table with the columns: ${header.join(' | ')}`)
  return table
}

/** Each body row as {column: cell}; a short row leaves its last cells empty. */
function records(table: Table): Array<Record<string, string>> {
  return table.rows.map((row) => Object.fromEntries(table.header.map((column, i) => [column, row[i] ?? ''])))
}

/** GitHub-flavoured pipe tables: a header row, a |---| delimiter row, then body rows. */
function parseTables(text: string): Table[] {
  const lines = text.split(/\r?\n/)
  const out: Table[] = []
  for (let i = 0; i + 1 < lines.length; i++) {
    if (!isRow(lines[i]!) || !/^\s*\|?\s*:?-{3,}/.test(lines[i + 1]!)) continue
    const header = splitRow(lines[i]!)
    const rows: string[][] = []
    let j = i + 2
    for (; j < lines.length && isRow(lines[j]!); j++) rows.push(splitRow(lines[j]!))
    out.push({header, rows})
    i = j - 1
  }
  return out
}

function isRow(line: string): boolean {
  return line.trimStart().startsWith('|')
}

// Splits on unescaped pipes; a pipe inside a cell is written \|.
function splitRow(line: string): string[] {
  const inner = line.trim().replace(/^\|/, '').replace(/\|$/, '')
  return inner.split(/(?<!\\)\|/).map((c) => c.trim().replace(/\\\|/g, '|'))
}

function unquote(value: string): string {
  return value.replace(/^`(.*)`$/, '$1')
}
