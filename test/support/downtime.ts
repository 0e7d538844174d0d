import { get } from 'node:http';

/** One request on a new connection (as curl makes it): did it get a 200 within the timeout? */
const ask = (url: string, timeout: number) =>
  new Promise<boolean>((resolve) => {
    const req = get(url, { agent: false, timeout }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });

export interface Downtime {
  failed: number;
  total: number;
  /** From the last answer before a failure to the next answer. */
  longestMs: number;
  /** The longest any one request took, answered or not: a proxy that holds requests shows here. */
  slowestMs: number;
  tookMs: number;
}

/**
 * Asks `url` every 20 ms while `operation` runs, each request given up after `timeoutMs` (2 s by
 * default, as an impatient client): the requests that failed, the longest outage, the slowest request.
 */
export async function measureDowntime(url: string, operation: () => Promise<void>, timeoutMs = 2_000): Promise<Downtime> {
  let stop = false;
  let failed = 0;
  let total = 0;
  let longest = 0;
  let slowest = 0;
  let lastOk = performance.now();
  let down = false;
  const poll = (async () => {
    while (!stop) {
      const sent = performance.now();
      total++;
      const ok = await ask(url, timeoutMs);
      slowest = Math.max(slowest, performance.now() - sent);
      if (ok) {
        if (down) longest = Math.max(longest, performance.now() - lastOk);
        down = false;
        lastOk = performance.now();
      } else {
        failed++;
        down = true;
      }
      await new Promise((r) => setTimeout(r, Math.max(0, 20 - (performance.now() - sent))));
    }
  })();
  const started = performance.now();
  try {
    await operation();
  } finally {
    stop = true;
    await poll;
  }
  if (down) longest = Math.max(longest, performance.now() - lastOk);
  return { failed, total, longestMs: Math.round(longest), slowestMs: Math.round(slowest), tookMs: Math.round(performance.now() - started) };
}
