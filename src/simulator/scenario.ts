import {readFile} from 'node:fs/promises'

import {parse as parseYaml} from 'yaml'

import {type Scenario, scenarioSchema} from './types.js'

// Scenario files (YAML): any subset of the traffic model; what is left out keeps the seed's default.

export class ScenarioError extends Error {
  override name = 'ScenarioError'
}

/** The seed's traffic model, every field at its default. */
export function defaultScenario(): Scenario {
  return scenarioSchema.parse({})
}

/** Parses a scenario from YAML (or JSON) text; throws ScenarioError naming every bad field. */
export function parseScenario(text: string, source = 'scenario'): Scenario {
  let raw: unknown
  try {
    raw = parseYaml(text) ?? {}
  } catch (error) {
    throw new ScenarioError(`${source}: not valid YAML: ${(error as Error).message}`)
  }
  return validateScenario(raw, source)
}

export function validateScenario(raw: unknown, source = 'scenario'): Scenario {
  const parsed = scenarioSchema.safeParse(raw)
  if (parsed.success) return parsed.data
  const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(top level)'}: ${i.message}`)
  throw new ScenarioError(`${source}: ${problems.join('; ')}`)
}

export async function loadScenario(path: string | undefined): Promise<Scenario> {
  if (!path) return defaultScenario()
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    throw new ScenarioError(`cannot read scenario file ${path}: ${(error as Error).message}`)
  }
  return parseScenario(text, path)
}
