/**
 * Operators' bounce rules from config (`bounce.rules`) → Rule objects checked before the built-in
 * table. The schema (src/config/schema.ts) has already checked that reasons exist and regexes compile.
 */
import type { Config } from '../config/schema.js';
import type { Rule } from './rules.js';

export function compileRules(rules: Config['bounce']['rules']): Rule[] {
  return rules.map((r, i) => ({
    reason: r.reason,
    ...(r.status ? { status: new RegExp(r.status, 'i') } : {}),
    ...(r.code ? { code: new RegExp(r.code) } : {}),
    ...(r.pattern ? { pattern: new RegExp(r.pattern, 'i') } : {}),
    why: r.why ?? `config bounce.rules[${i}]`,
  }));
}
