/** TLS of the members: where the certificates are inside the member pod. */

/** The Secret volume with the CA and the member's certificate and key (README "TLS"). */
export const TLS_PATHS = {
  dir: "/etc/mysql-ha/tls",
  /** The CA that signed every member's certificate: replicas verify their source with it (MASTER_SSL_CA). */
  ca: "/etc/mysql-ha/tls/ca.crt",
} as const;
