/**
 * Certificate rotation without restarts: members load renewed certificate files with FLUSH SSL (new connections get
 * the new certificate; open ones, replication included, keep their session). The files change under the server (the
 * kubelet refreshes a Secret volume within about a minute), so a member is flushed again until it serves the
 * expected certificate or the deadline passes. Certificates are told apart by their validity period.
 */
import { X509Certificate } from "node:crypto";
import { connect, Sql } from "./connection";
import { ReplicationError } from "./errors";
import { resolveSettings } from "./settings";
import { EngineSettings, MemberAddress } from "./types";

export interface Validity {
  notBefore: string;
  notAfter: string;
}

export interface CertificateState {
  index: number;
  /** What the member serves now; undefined: no TLS. */
  served: Validity | undefined;
  /** What it should serve. */
  expected: Validity;
}

/** Validity period of a PEM certificate, as ISO times. */
export function validityOf(pem: string): Validity {
  const cert = new X509Certificate(pem);
  return { notBefore: new Date(cert.validFrom).toISOString(), notAfter: new Date(cert.validTo).toISOString() };
}

const same = (a: Validity | undefined, b: Validity) => !!a && a.notBefore === b.notBefore && a.notAfter === b.notAfter;
const describe = (v: Validity | undefined) => (v ? `valid ${v.notBefore} to ${v.notAfter}` : "none");

async function withMember<T>(
  members: MemberAddress[],
  index: number,
  settings: EngineSettings,
  fn: (sql: Sql) => Promise<T>,
): Promise<T> {
  const sql = await connect(members, index, resolveSettings(settings));
  try {
    return await fn(sql);
  } finally {
    await sql.close();
  }
}

/**
 * Members (by index) whose served certificate is not the expected one (`expected[i]`, PEM; undefined: not checked).
 * Reads only: what `pulumi preview` shows as "renew certificates".
 */
export async function staleCertificates(
  members: MemberAddress[],
  expected: Array<string | undefined>,
  settings: EngineSettings,
): Promise<CertificateState[]> {
  const states = await Promise.all(
    expected.map(async (pem, index): Promise<CertificateState | undefined> => {
      if (pem === undefined || index >= members.length) return undefined;
      const served = await withMember(members, index, settings, (sql) => settings.flavor.servedCertificate(sql));
      return { index, served, expected: validityOf(pem) };
    }),
  );
  return states.filter((s): s is CertificateState => !!s && !same(s.served, s.expected));
}

/**
 * Makes every member whose served certificate is not `expected[i]` load its files again (FLUSH SSL), repeating
 * every `pollMs` until it serves the expected one; past the settings' deadline the error names each member that does
 * not, and what it serves. Returns the members that were reloaded.
 */
export async function reloadCertificates(
  members: MemberAddress[],
  expected: Array<string | undefined>,
  settings: EngineSettings,
  pollMs = 1000,
): Promise<number[]> {
  const resolved = resolveSettings(settings);
  const deadline = Date.now() + resolved.deadlineMs;
  const stale = await staleCertificates(members, expected, settings);
  const failed: string[] = [];
  await Promise.all(
    stale.map(async (state) => {
      for (;;) {
        await withMember(members, state.index, settings, (sql) => settings.flavor.reloadTls(sql));
        // A connection shows the certificate it got at its handshake: look with a new one.
        const served = await withMember(members, state.index, settings, (sql) =>
          settings.flavor.servedCertificate(sql),
        );
        if (same(served, state.expected)) {
          resolved.log(`member ${state.index}: serves its renewed certificate (${describe(served)}) after FLUSH SSL`);
          return;
        }
        if (Date.now() + pollMs > deadline) {
          failed.push(
            `member ${state.index} serves a certificate ${describe(served)}, not the renewed one ${describe(state.expected)}: its files have not changed yet`,
          );
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, pollMs));
      }
    }),
  );
  if (failed.length)
    throw new ReplicationError(`certificates not reloaded within ${resolved.deadlineMs} ms: ${failed.join("; ")}`);
  return stale.map((s) => s.index);
}
