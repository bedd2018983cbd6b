/**
 * Repository file access and `{{NAME}}` template filling for the renderers.
 */
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

/** Absolute path of the repository root (the directory holding Pulumi.yaml), from source or from dist/. */
export function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url))
  while (!fs.existsSync(path.join(dir, 'Pulumi.yaml'))) {
    const up = path.dirname(dir)
    if (up === dir) throw new Error('Pulumi.yaml not found above ' + fileURLToPath(import.meta.url))
    dir = up
  }
  return dir
}

/**
 * Fills every `{{NAME}}` in `template` from `values`.
 *
 * @throws Error naming placeholders without a value and values without a placeholder, so a renamed
 *   placeholder can never silently render as an empty string.
 */
export function fillTemplate(template: string, values: Record<string, string>, name = 'template'): string {
  const used = new Set<string>()
  const missing = new Set<string>()
  const out = template.replace(/\{\{([A-Z0-9_]+)\}\}/g, (_m, key: string) => {
    used.add(key)
    const v = values[key]
    if (v === undefined) {
      missing.add(key)
      return ''
    }
    return v
  })
  const unused = Object.keys(values).filter((k) => !used.has(k))
  if (missing.size > 0 || unused.length > 0) {
    throw new Error(`${name}: missing values for [${[...missing].join(', ')}], unused values [${unused.join(', ')}]`)
  }
  return out
}

/** Quotes `s` for POSIX shells (single quotes; embedded quotes become `'\''`). */
export function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`
}
