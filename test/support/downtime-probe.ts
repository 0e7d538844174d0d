/**
 * measureDowntime from where a client of the test cluster stands, inside its network namespace:
 *   nsenter --net=/run/netns/atlas-k3s node --import tsx test/support/downtime-probe.ts URL
 * prints "asking" once it asks URL, asks until its standard input closes, then prints the
 * figures as one line of JSON.
 */
import { measureDowntime } from './downtime.js';

const url = process.argv[2];
if (!url) {
  process.stderr.write('usage: downtime-probe.ts URL\n');
  process.exit(2);
}
const figures = await measureDowntime(
  url,
  () =>
    new Promise<void>((resolve) => {
      process.stdin.on('end', resolve).resume();
      process.stdout.write('asking\n');
    }),
);
process.stdout.write(`${JSON.stringify(figures)}\n`);
