/**
 * Validation of `POST /dispatch` bodies (SPEC section 2, "Dispatch") with zod: one schema, field
 * errors named by their JSON path. Relative paths are normalised and may not leave their root.
 */
import path from 'node:path'
import { z } from 'zod'
import { parse as parseToml } from 'smol-toml'
import { validationError, type FieldError } from '../http/errors.js'
import type { NewRun, RunRequest } from '../queue/store.js'

/** Longest prompt accepted, in characters (it reaches Codex as one argv element, capped by the kernel at 128 KiB). */
export const MAX_PROMPT_CHARS = 100_000

/**
 * A path relative to a root that cannot escape it: not absolute, no backslashes, no NUL, and no
 * `..` that climbs above the root after normalisation. Normalised to POSIX form; `.` becomes null.
 */
export const relativePath = z
  .string()
  .min(1)
  .max(1024)
  .superRefine((p, ctx) => {
    if (p.includes('\0')) ctx.addIssue({ code: 'custom', message: 'must not contain NUL' })
    else if (p.includes('\\')) ctx.addIssue({ code: 'custom', message: 'must use / as separator' })
    else if (path.posix.isAbsolute(p)) ctx.addIssue({ code: 'custom', message: 'must be a relative path' })
    else {
      const n = path.posix.normalize(p)
      if (n === '..' || n.startsWith('../')) ctx.addIssue({ code: 'custom', message: 'must stay inside its root (no .. escape)' })
    }
  })
  .transform((p) => {
    const n = path.posix.normalize(p).replace(/\/+$/, '')
    return n === '.' || n === '' ? null : n
  })

/** A state key names directories on disk, so it is a plain file name. */
export const stateKey = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/, 'must be 1-128 characters of letters, digits, _ . - (starting with a letter or digit)')

/** A git branch name (a safe subset of `git check-ref-format --branch`). */
const branchName = z
  .string()
  .max(255)
  .regex(
    /^(?!-)(?!.*\.\.)(?!.*\/\/)(?!.*@\{)(?!.*\.lock(\/|$))(?!\/)[A-Za-z0-9._\/-]+(?<![\/.])$/,
    'must be a valid git branch name',
  )

/** Git remote: https/http/ssh/git URL or scp-like `user@host:path`, with no credentials in it. */
const gitRepo = z
  .string()
  .min(1)
  .max(2048)
  .superRefine((v, ctx) => {
    if (/^[\w.+-]+@[\w.-]+:(?!\/\/)/.test(v)) return
    let url: URL
    try {
      url = new URL(v)
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be an http(s), ssh or git URL, or user@host:path' })
      return
    }
    if (!['https:', 'http:', 'ssh:', 'git:'].includes(url.protocol)) {
      ctx.addIssue({ code: 'custom', message: 'must be an http(s), ssh or git URL' })
    } else if (url.password || (url.username && url.protocol.startsWith('http'))) {
      ctx.addIssue({
        code: 'custom',
        message: 'must not carry credentials; the server passes GIT_TOKEN to git through GIT_ASKPASS',
      })
    }
  })

const command = z.string().min(1).max(10_000)

const schemaCache = new Map<string, ReturnType<typeof buildDispatchSchema>>()

/**
 * The dispatch body schema (also the source of the OpenAPI document's request body). Built once
 * per set of limits: zod compiles a schema on its first parse, which is too costly per request.
 */
export function dispatchSchema(limits: { timeoutDefaultS: number; timeoutMaxS: number }) {
  const key = `${limits.timeoutDefaultS}/${limits.timeoutMaxS}`
  let schema = schemaCache.get(key)
  if (!schema) {
    schema = buildDispatchSchema(limits)
    schemaCache.set(key, schema)
  }
  return schema
}

function buildDispatchSchema(limits: { timeoutDefaultS: number; timeoutMaxS: number }) {
  return z
    .strictObject({
      prompt: z.string().min(1, 'must not be empty').max(MAX_PROMPT_CHARS),
      config_toml: z.string().max(64 * 1024),
      state_key: stateKey.default('default'),
      workdir_rel: relativePath.nullish(),
      model: z.string().min(1).max(200).nullish(),
      conversation_id: z.uuid('must be a UUID').nullish(),
      fork: z.boolean().default(false),
      pre_commands: z.array(command).max(50).default([]),
      post_commands: z.array(command).max(50).default([]),
      git_repo: gitRepo.nullish(),
      git_branch: branchName.nullish(),
      git_base: branchName.default('main'),
      git_clone_dir_rel: relativePath.default('repo'),
      git_push: z.boolean().default(false),
      timeout_s: z.number().int().min(1).max(limits.timeoutMaxS).default(limits.timeoutDefaultS),
    })
    .superRefine((b, ctx) => {
      try {
        parseToml(b.config_toml)
      } catch (err) {
        ctx.addIssue({ code: 'custom', path: ['config_toml'], message: `is not valid TOML: ${(err as Error).message.split('\n')[0]}` })
      }
      if (b.fork && !b.conversation_id) ctx.addIssue({ code: 'custom', path: ['fork'], message: 'requires conversation_id' })
      if (b.git_repo && !b.git_branch) ctx.addIssue({ code: 'custom', path: ['git_branch'], message: 'is required with git_repo' })
      if (b.git_branch && !b.git_repo) ctx.addIssue({ code: 'custom', path: ['git_repo'], message: 'is required with git_branch' })
      if (b.git_push && !b.git_repo) ctx.addIssue({ code: 'custom', path: ['git_push'], message: 'requires git_repo and git_branch' })
    })
}

/** Converts zod issues to field errors (`a.b[2]` paths; the root is `body`). */
export function fieldErrors(error: z.ZodError): FieldError[] {
  return error.issues.map((i) => {
    let field = i.path.reduce<string>(
      (acc, seg) => (typeof seg === 'number' ? `${acc}[${seg}]` : acc ? `${acc}.${String(seg)}` : String(seg)),
      '',
    )
    let message = i.message
    if (i.code === 'unrecognized_keys') {
      field = i.keys.join(', ')
      message = 'unknown field'
    } else if (i.code === 'invalid_type' && i.input === undefined) {
      message = 'is required'
    }
    return { field: field || 'body', message }
  })
}

/**
 * Validates a dispatch body.
 * @returns the new run's fields (without idempotency data).
 * @throws HttpError 400 (`invalid_request`) naming every bad field.
 */
export function parseDispatchBody(
  body: unknown,
  limits: { timeoutDefaultS: number; timeoutMaxS: number },
): Omit<NewRun, 'idempotency_key' | 'request_hash'> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw validationError([{ field: 'body', message: 'must be a JSON object' }])
  }
  const parsed = dispatchSchema(limits).safeParse(body)
  if (!parsed.success) throw validationError(fieldErrors(parsed.error))
  const b = parsed.data
  const request: RunRequest = {
    workdir_rel: b.workdir_rel ?? null,
    model: b.model ?? null,
    conversation_id: b.conversation_id ?? null,
    fork: b.fork,
    pre_commands: b.pre_commands,
    post_commands: b.post_commands,
    git_repo: b.git_repo ?? null,
    git_branch: b.git_branch ?? null,
    git_base: b.git_base,
    git_clone_dir_rel: b.git_clone_dir_rel ?? '.',
    git_push: b.git_push,
  }
  return { state_key: b.state_key, prompt: b.prompt, config_toml: b.config_toml, request, timeout_s: b.timeout_s }
}
