/**
 * Who may call Conveyor's functions. Ingest takes the service key; workers woken by pg_net take
 * the service key or the optional CONVEYOR_WORKER_KEY. Keys are compared in constant time.
 * These functions run with verify_jwt = false (config.toml): new `sb_secret_` keys are not JWTs,
 * and pg_cron/pg_net calls carry no user session.
 */
import { z } from "zod";
import type { BaseConfig } from "./config.ts";

const encoder = new TextEncoder();

/** Compares two strings in time that depends only on their lengths, not on where they differ. */
export function constantTimeEqual(a: string, b: string): boolean {
  const left = encoder.encode(a);
  const right = encoder.encode(b);
  const length = Math.max(left.length, right.length);
  let difference = left.length ^ right.length;
  for (let i = 0; i < length; i++) {
    difference |= (left[i] ?? 0) ^ (right[i] ?? 0);
  }
  return difference === 0;
}

export function bearerToken(request: Request): string | undefined {
  const header = request.headers.get("authorization") ?? "";
  const match = header.match(/^Bearer\s+(\S+)\s*$/i);
  if (match) return match[1];
  return request.headers.get("apikey") ?? undefined;
}

const secretKeysSchema = z.record(z.string(), z.string());

/** The service-level keys of this project: the legacy service_role JWT and any sb_secret_ keys. */
export function serviceKeys(config: BaseConfig): string[] {
  const keys: string[] = [];
  if (config.SUPABASE_SERVICE_ROLE_KEY) keys.push(config.SUPABASE_SERVICE_ROLE_KEY);
  if (config.SUPABASE_SECRET_KEYS) {
    try {
      keys.push(...Object.values(secretKeysSchema.parse(JSON.parse(config.SUPABASE_SECRET_KEYS))));
    } catch {
      // a malformed value grants nothing
    }
  }
  return keys.filter((key) => key.length > 0);
}

function matchesAny(token: string | undefined, keys: string[]): boolean {
  if (!token) return false;
  let matched = false;
  for (const key of keys) matched = constantTimeEqual(token, key) || matched;
  return matched;
}

/** A check for the service key (service_role JWT or any sb_secret_ key), keys read once. */
export function serviceCallerCheck(config: BaseConfig): (request: Request) => boolean {
  const keys = serviceKeys(config);
  return (request) => matchesAny(bearerToken(request), keys);
}

/** A check for the worker key: the service keys plus CONVEYOR_WORKER_KEY when set. */
export function workerCallerCheck(config: BaseConfig): (request: Request) => boolean {
  const keys = serviceKeys(config);
  if (config.CONVEYOR_WORKER_KEY) keys.push(config.CONVEYOR_WORKER_KEY);
  return (request) => matchesAny(bearerToken(request), keys);
}
