// Which host names gomodgate decrypts: an exact, lower-cased match against the configured list, nothing
// else (no suffixes, no patterns). Checksum-database hosts (sum.*) speak the database's own paths.
// Replaced as a whole on reload.

export class InterceptHosts {
  private hosts: ReadonlySet<string>;

  constructor(hosts: readonly string[]) {
    this.hosts = new Set(hosts.map((h) => h.toLowerCase()));
  }

  replace(hosts: readonly string[]): void {
    this.hosts = new Set(hosts.map((h) => h.toLowerCase()));
  }

  has(host: string | null | undefined): host is string {
    return typeof host === 'string' && this.hosts.has(host);
  }

  list(): string[] {
    return [...this.hosts];
  }

  /** sum.golang.org and sum.golang.google.cn serve the checksum database at their root. */
  static isChecksumDbHost(host: string): boolean {
    return host.startsWith('sum.');
  }
}
