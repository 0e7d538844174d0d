import { createServer, type AddressInfo } from 'node:net';

/** A port of 127.0.0.1 that no process listens on now (the kernel's choice): where tpctl starts a version of its own. */
export const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
