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

/**
 * IPv6 forms that carry an IPv4 address, each judged as the IPv4 address it carries (where it
 * sits among the 16 bytes): a way round the IPv4 table otherwise.
 */
const CARRIES_IPV4: [string, number, number][] = [
  ['::ffff:0:0', 96, 12], // IPv4-mapped: ::ffff:127.0.0.1
  ['64:ff9b::', 96, 12], // NAT64: 64:ff9b::7f00:1
  ['2002::', 16, 2], // 6to4: 2002:7f00:1::
  ['::', 96, 12], // IPv4-compatible (deprecated): ::127.0.0.1
];
const carriers = CARRIES_IPV4.map(([net, prefix, at]) => {
  const list = new BlockList();
  list.addSubnet(net, prefix, 'ipv6');
  return { list, at };
});

/** The 16 bytes of an IPv6 address (dotted IPv4 tail and `::` expanded). */
function ipv6Bytes(address: string): number[] {
  const tail = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(address);
  const text = tail ? address.slice(0, tail.index) + `${((+tail[1]! << 8) | +tail[2]!).toString(16)}:${((+tail[3]! << 8) | +tail[4]!).toString(16)}` : address;
  const [head = '', rest] = text.split('::');
  const groups = (part: string) => part.split(':').filter(Boolean);
  const missing = 8 - groups(head).length - (rest === undefined ? 0 : groups(rest).length);
  const all = [...groups(head), ...(rest === undefined ? [] : [...Array<string>(missing).fill('0'), ...groups(rest)])];
  return all.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff]);
}

/** An address as the table judges it: an IPv6 form that carries an IPv4 address is that IPv4 address. */
function plain(address: string): { address: string; type: 'ipv4' | 'ipv6' } {
  if (isIP(address) !== 6) return { address, type: 'ipv4' };
  const carrier = carriers.find((c) => c.list.check(address, 'ipv6'));
  if (!carrier) return { address, type: 'ipv6' };
  return {
    address: ipv6Bytes(address)
      .slice(carrier.at, carrier.at + 4)
      .join('.'),
    type: 'ipv4',
  };
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
  const allowed = policy.allowedAddresses.check(a.address, a.type) || (a.address !== address && policy.allowedAddresses.check(address, 'ipv6'));
  if (allowed || !internal.check(a.address, a.type)) return undefined;
  const carrying = a.address === address ? '' : ` (carrying ${a.address})`;
  return `${address}${carrying} is an internal address (loopback, link-local, private or unspecified)`;
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
