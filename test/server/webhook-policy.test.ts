import { describe, expect, it } from 'vitest';
import { checkWebhookUrl, parseWebhookAllow } from '../../src/server/webhook-policy.js';

const policy = parseWebhookAllow(undefined);
const refusal = (url: string) =>
  checkWebhookUrl(policy, url).then(
    () => 'allowed',
    (err: Error) => err.message,
  );

describe('the webhook policy: IPv6 forms that carry an IPv4 address', () => {
  it.each([
    ['IPv4-mapped, dotted', 'http://[::ffff:127.0.0.1]/', '127.0.0.1'],
    ['IPv4-mapped, in hex', 'http://[::ffff:7f00:1]/', '127.0.0.1'],
    ['NAT64', 'http://[64:ff9b::7f00:1]/', '127.0.0.1'],
    ['NAT64, dotted', 'http://[64:ff9b::10.0.0.5]/', '10.0.0.5'],
    ['6to4', 'http://[2002:a9fe:a9fe::1]/', '169.254.169.254'],
    ['IPv4-compatible', 'http://[::c0a8:1]/', '192.168.0.1'],
    ['the loopback', 'http://[::1]/', '0.0.0.1'],
  ])('refuses %s of an internal host, judged as the IPv4 address it carries', async (_form, url, carried) => {
    expect(await refusal(url)).toMatch(new RegExp(`is not allowed: \\S+ \\(carrying ${carried.replace(/\./g, '\\.')}\\) is an internal address`));
  });

  it.each([
    ['NAT64 of a public address', 'http://[64:ff9b::cb00:710a]/'],
    ['6to4 of a public address', 'http://[2002:cb00:710a::1]/'],
    ['IPv4-mapped public address', 'http://[::ffff:203.0.113.10]/'],
    ['a public IPv6 address', 'http://[2001:db8::1]/'],
  ])('lets %s through', async (_form, url) => {
    expect(await refusal(url)).toBe('allowed');
  });

  it('an internal NAT64 range allowed by ATLAS_WEBHOOK_ALLOW, as IPv6 or as the IPv4 it carries, goes through', async () => {
    for (const allow of ['64:ff9b::/96', '127.0.0.0/8']) {
      await expect(checkWebhookUrl(parseWebhookAllow(allow), 'http://[64:ff9b::7f00:1]/')).resolves.toBeUndefined();
    }
  });
});
