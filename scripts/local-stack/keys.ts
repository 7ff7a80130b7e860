/**
 * API keys for the local stack. Like `supabase start`, the stack signs an `anon` and a
 * `service_role` JWT (HS256) with a JWT secret; unlike it, the secret is random per checkout and
 * lives in the git-ignored `.local/keys.json`, so no key is ever committed.
 */
import { z } from "zod";
import { keysFile, stateDir } from "./settings.ts";

const keysSchema = z.object({ jwtSecret: z.string().min(32) });

export interface StackKeys {
  jwtSecret: string;
  anonKey: string;
  serviceRoleKey: string;
}

const encoder = new TextEncoder();

function base64url(bytes: Uint8Array | string): string {
  const data = typeof bytes === "string" ? encoder.encode(bytes) : bytes;
  let binary = "";
  for (const byte of data) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

function fromBase64url(text: string): Uint8Array<ArrayBuffer> {
  const padded = text.replaceAll("-", "+").replaceAll("_", "/") + "===".slice((text.length + 3) % 4);
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

async function hmacKey(secret: string): Promise<CryptoKey> {
  return await crypto.subtle.importKey(
    "raw",
    encoder.encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign", "verify"],
  );
}

export async function signJwt(claims: Record<string, unknown>, secret: string): Promise<string> {
  const head = base64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const body = base64url(JSON.stringify(claims));
  const signature = await crypto.subtle.sign("HMAC", await hmacKey(secret), encoder.encode(`${head}.${body}`));
  return `${head}.${body}.${base64url(new Uint8Array(signature))}`;
}

const claimsSchema = z.object({ role: z.string(), exp: z.number().optional() }).passthrough();

/** Verifies an HS256 JWT as Supabase's gateway does for `verify_jwt`; returns its claims or null. */
export async function verifyJwt(
  token: string,
  secret: string,
): Promise<z.infer<typeof claimsSchema> | null> {
  const parts = token.split(".");
  if (parts.length !== 3) return null;
  try {
    const header = JSON.parse(new TextDecoder().decode(fromBase64url(parts[0])));
    if (header.alg !== "HS256") return null;
    const valid = await crypto.subtle.verify(
      "HMAC",
      await hmacKey(secret),
      fromBase64url(parts[2]),
      encoder.encode(`${parts[0]}.${parts[1]}`),
    );
    if (!valid) return null;
    const claims = claimsSchema.safeParse(JSON.parse(new TextDecoder().decode(fromBase64url(parts[1]))));
    if (!claims.success) return null;
    if (claims.data.exp !== undefined && claims.data.exp * 1000 < Date.now()) return null;
    return claims.data;
  } catch {
    return null;
  }
}

async function keysFor(jwtSecret: string): Promise<StackKeys> {
  const iat = 1764547200; // 2025-12-01, fixed so the keys are stable for one secret
  const exp = iat + 10 * 365 * 24 * 3600;
  return {
    jwtSecret,
    anonKey: await signJwt({ iss: "conveyor-local", role: "anon", iat, exp }, jwtSecret),
    serviceRoleKey: await signJwt({ iss: "conveyor-local", role: "service_role", iat, exp }, jwtSecret),
  };
}

/** Reads the checkout's keys, creating a random JWT secret the first time. */
export async function ensureKeys(): Promise<StackKeys> {
  try {
    const stored = keysSchema.parse(JSON.parse(Deno.readTextFileSync(keysFile)));
    return await keysFor(stored.jwtSecret);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw new Error(`reading ${keysFile}: ${error}`);
  }
  Deno.mkdirSync(stateDir, { recursive: true });
  const jwtSecret = base64url(crypto.getRandomValues(new Uint8Array(32)));
  Deno.writeTextFileSync(keysFile, JSON.stringify({ jwtSecret }), { mode: 0o600 });
  return await keysFor(jwtSecret);
}
