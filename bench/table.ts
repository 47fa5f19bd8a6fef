// Plain-text tables for stdout: a title, a header row, right-aligned numbers, notes underneath.

export interface Table {
  title: string
  columns: string[]
  rows: Array<Array<string | number>>
  notes?: string[]
}

export function renderTable(table: Table): string {
  const cells = [table.columns, ...table.rows.map((row) => row.map(String))]
  const widths = table.columns.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? '').length)))
  const line = (row: string[]) =>
    row
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)))
      .join('  ')
      .trimEnd()
  const rule = widths.map((w) => '-'.repeat(w)).join('  ')
  const out = [`\n${table.title}`, line(table.columns), rule, ...cells.slice(1).map(line)]
  for (const note of table.notes ?? []) out.push(`  ${note}`)
  return out.join('\n') + '\n'
}

export function printTable(table: Table): void {
  process.stdout.write(renderTable(table))
}
