/**
 * Loading the config: YAML file, then environment overrides, then the schema.
 *
 * Receives: a file path (or none: every default), and the process environment.
 * Promises: a validated Config, or a ConfigError whose message names each bad key, the value
 * found and what was expected — the message is printed as-is to the operator.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { configSchema, type Config } from './schema.js';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export interface LoadOptions {
  file?: string | undefined;
  env?: NodeJS.ProcessEnv;
  /** extra values merged over the file (tests use this to pick ports) */
  overrides?: Record<string, unknown>;
}

export function loadConfig(options: LoadOptions = {}): Config {
  const env = options.env ?? process.env;
  const file = options.file ?? env.SOKUTATSU_CONFIG;
  const raw = file ? readYaml(file) : {};
  const merged = deepMerge(deepMerge(raw, envOverrides(env)), options.overrides ?? {});
  const config = validate(merged, file);
  // Relative paths are taken from the working directory, as every CLI tool does.
  config.dataDir = resolve(config.dataDir);
  return config;
}

/** Parses and validates an in-memory object (tests, `config check`). */
export function validate(value: unknown, source = 'config'): Config {
  const result = configSchema.safeParse(value);
  if (result.success) return result.data;
  throw new ConfigError(`invalid ${source}:\n${formatIssues(result.error.issues, value)}`);
}

function readYaml(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`config file ${file} is not valid YAML: ${(err as Error).message}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new ConfigError(`config file ${file} must contain a mapping of keys, found ${typeof doc}`);
  }
  return doc as Record<string, unknown>;
}

function envOverrides(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (env.SOKUTATSU_REDIS_URL) out.redis = { url: env.SOKUTATSU_REDIS_URL };
  if (env.SOKUTATSU_ADMIN_TOKEN) out.admin = { token: env.SOKUTATSU_ADMIN_TOKEN };
  if (env.SOKUTATSU_METRICS_TOKEN) out.metrics = { token: env.SOKUTATSU_METRICS_TOKEN };
  if (env.SOKUTATSU_KEY_ENCRYPTION_KEY) out.domains = { keyEncryptionKey: env.SOKUTATSU_KEY_ENCRYPTION_KEY };
  return out;
}

function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const current = out[key];
    out[key] = isPlainObject(current) && isPlainObject(value) ? deepMerge(current, value) : value;
  }
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function formatIssues(issues: z.core.$ZodIssue[], root: unknown): string {
  return issues
    .map((issue) => {
      const path = issue.path.map(String);
      if (issue.code === 'unrecognized_keys') {
        const where = path.length ? path.join('.') + '.' : '';
        return `  - ${issue.keys.map((k) => where + k).join(', ')}: unknown key (check the spelling; every key is in config/production.example.yaml)`;
      }
      const key = path.join('.') || '(top level)';
      const found = describe(valueAt(root, path));
      return `  - ${key}: ${issue.message} (found ${found})`;
    })
    .join('\n');
}

function valueAt(root: unknown, path: string[]): unknown {
  let cur: unknown = root;
  for (const part of path) {
    if (!isPlainObject(cur) && !Array.isArray(cur)) return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value);
  return text.length > 80 ? text.slice(0, 77) + '...' : text;
}
