import dns from 'node:dns';
import { BlockList, isIP } from 'node:net';

/**
 * Where webhooks may be sent. An admin names the URL, but the Tenant Plane makes the request
 * from inside the network: by default nothing on loopback, link-local (cloud metadata at
 * 169.254.169.254), private or unspecified addresses, nor a name that resolves to one. Checked
 * when a webhook is saved and again at each delivery, on the very addresses connected to (DNS
 * can change in between). ATLAS_WEBHOOK_ALLOW lists hosts, addresses or CIDRs allowed anyway.
 */
export interface WebhookPolicy {
  /** Addresses and networks allowed although they are internal. */
  allowedAddresses: BlockList;
  /** Host names allowed as they are written in the URL (lower case). */
  allowedHosts: ReadonlySet<string>;
}

export class WebhookPolicyError extends Error {}

const INTERNAL: [string, number, 'ipv4' | 'ipv6'][] = [
  ['0.0.0.0', 8, 'ipv4'],
  ['10.0.0.0', 8, 'ipv4'],
  ['100.64.0.0', 10, 'ipv4'],
  ['127.0.0.0', 8, 'ipv4'],
  ['169.254.0.0', 16, 'ipv4'],
  ['172.16.0.0', 12, 'ipv4'],
  ['192.168.0.0', 16, 'ipv4'],
  ['224.0.0.0', 3, 'ipv4'],
  ['::', 128, 'ipv6'],
  ['::1', 128, 'ipv6'],
  ['fc00::', 7, 'ipv6'],
  ['fe80::', 10, 'ipv6'],
  ['ff00::', 8, 'ipv6'],
];
const internal = new BlockList();
for (const [net, prefix, type] of INTERNAL) internal.addSubnet(net, prefix, type);

/** An IPv4 address written as IPv6 (::ffff:127.0.0.1) is judged as the IPv4 one. */
function plain(address: string): { address: string; type: 'ipv4' | 'ipv6' } {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (mapped) return { address: mapped, type: 'ipv4' };
  return { address, type: isIP(address) === 6 ? 'ipv6' : 'ipv4' };
}

/** Reads ATLAS_WEBHOOK_ALLOW: hosts, addresses and CIDRs, separated by commas or spaces. */
export function parseWebhookAllow(raw: string | undefined): WebhookPolicy {
  const allowedAddresses = new BlockList();
  const allowedHosts = new Set<string>();
  for (const entry of (raw ?? '').split(/[\s,]+/).filter(Boolean)) {
    const [net, prefix, extra] = entry.split('/');
    const type = isIP(net ?? '');
    if (type && prefix === undefined) {
      allowedAddresses.addAddress(net!, type === 6 ? 'ipv6' : 'ipv4');
    } else if (type && extra === undefined && /^\d{1,3}$/.test(prefix ?? '') && Number(prefix) <= (type === 6 ? 128 : 32)) {
      allowedAddresses.addSubnet(net!, Number(prefix), type === 6 ? 'ipv6' : 'ipv4');
    } else if (/^[a-z0-9]([a-z0-9-]{0,62}\.)*[a-z0-9-]{1,63}$/i.test(entry)) {
      allowedHosts.add(entry.toLowerCase());
    } else {
      throw new WebhookPolicyError(`ATLAS_WEBHOOK_ALLOW: "${entry.slice(0, 60)}" is not a host name, an address or a CIDR (e.g. 10.1.0.0/16)`);
    }
  }
  return { allowedAddresses, allowedHosts };
}

/** Why an address may not be sent to, or undefined when it may. */
function refusal(policy: WebhookPolicy, address: string): string | undefined {
  const a = plain(address);
  if (policy.allowedAddresses.check(a.address, a.type) || !internal.check(a.address, a.type)) return undefined;
  return `${address} is an internal address (loopback, link-local, private or unspecified)`;
}

const hostOf = (url: URL) => url.hostname.replace(/^\[|\]$/g, '').toLowerCase();

/** The refusal of a host whose addresses include an internal one, unless the host or the addresses are allowed. */
function refusalOf(policy: WebhookPolicy, host: string, addresses: readonly string[]): WebhookPolicyError | undefined {
  if (policy.allowedHosts.has(host)) return undefined;
  const why = addresses.map((a) => refusal(policy, a)).find(Boolean);
  return why ? new WebhookPolicyError(`the webhook host ${host} is not allowed: ${why}; list it in ATLAS_WEBHOOK_ALLOW if it is meant`) : undefined;
}

/**
 * Checks a webhook URL: its host, and every address its name resolves to (with `resolve` false,
 * only a literal address: a delivery checks the resolved ones as it connects). Throws WebhookPolicyError.
 */
export async function checkWebhookUrl(policy: WebhookPolicy, text: string, options: { resolve: boolean } = { resolve: true }): Promise<void> {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new WebhookPolicyError('the webhook URL does not parse');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new WebhookPolicyError('a webhook URL is http:// or https://');
  if (url.username || url.password) throw new WebhookPolicyError('a webhook URL carries no user name or password (the signature authenticates it)');
  const host = hostOf(url);
  if (policy.allowedHosts.has(host) || (!isIP(host) && !options.resolve)) return;
  const addresses = isIP(host)
    ? [host]
    : await dns.promises.lookup(host, { all: true }).then(
        (r) => r.map((a) => a.address),
        () => {
          throw new WebhookPolicyError(`the webhook host ${host} does not resolve`);
        },
      );
  const refused = refusalOf(policy, host, addresses);
  if (refused) throw refused;
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void;

/**
 * The `lookup` of a delivery's connection: resolves as usual and refuses an internal address, so
 * the address checked is the address connected to. (A literal address in the URL is checked by
 * checkWebhookUrl first: Node does not look those up.)
 */
export function guardedLookup(policy: WebhookPolicy, url: URL) {
  const host = hostOf(url);
  return (hostname: string, options: dns.LookupOptions, callback: LookupCallback): void => {
    dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, []);
      const refused = refusalOf(
        policy,
        host,
        addresses.map((a) => a.address),
      );
      if (refused) return callback(refused, []);
      if (options.all) return callback(null, addresses);
      callback(null, addresses[0]!.address, addresses[0]!.family);
    });
  };
}
