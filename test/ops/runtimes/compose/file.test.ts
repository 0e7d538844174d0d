import { describe, expect, it } from 'vitest';
import { serviceEnvironment } from '../../../../src/ops/runtimes/compose/file.js';

/** What `compose config` prints is read as it comes: v2 writes the environment as a map, older Composes a list; either may hold anything. */
describe("the service's environment, from compose config", () => {
  it('reads a map and a list alike; a number or a boolean becomes its text', () => {
    const map = `services:\n  tenant-plane:\n    image: atlasai/tenant-plane:1.2.2\n    environment:\n      DB_URL: postgresql://u:p@db/atlas\n      ATLAS_PORT: 3000\n      ATLAS_TRUST_PROXY: true\n`;
    const list = `services:\n  tenant-plane:\n    environment:\n      - DB_URL=postgresql://u:p=x@db/atlas\n      - EMPTY=\n`;
    expect(serviceEnvironment(map, 'tenant-plane')).toEqual({ DB_URL: 'postgresql://u:p@db/atlas', ATLAS_PORT: '3000', ATLAS_TRUST_PROXY: 'true' });
    // Only the first = splits: a value may hold one.
    expect(serviceEnvironment(list, 'tenant-plane')).toEqual({ DB_URL: 'postgresql://u:p=x@db/atlas', EMPTY: '' });
  });

  it('leaves out what is not a variable: a name that is not one, a name without a value, a nested value; a service without any, or missing', () => {
    const odd = `services:\n  tenant-plane:\n    environment:\n      GOOD: yes-it-is\n      "BAD NAME": x\n      "1ST": x\n      UNSET: null\n      NESTED: { a: 1 }\n      LIST: [1, 2]\n`;
    expect(serviceEnvironment(odd, 'tenant-plane')).toEqual({ GOOD: 'yes-it-is' });
    expect(serviceEnvironment(`services:\n  tenant-plane:\n    environment: [NO_EQUALS, 7, "A=1"]\n`, 'tenant-plane')).toEqual({ A: '1' });
    expect(serviceEnvironment(`services:\n  tenant-plane:\n    image: x\n`, 'tenant-plane')).toEqual({});
    expect(serviceEnvironment(`services:\n  other:\n    environment: { A: "1" }\n`, 'tenant-plane')).toEqual({});
    expect(serviceEnvironment(`services: 7\n`, 'tenant-plane')).toEqual({});
  });

  it('refuses what is not YAML, naming where', () => {
    expect(() => serviceEnvironment('services: [\n', 'tenant-plane')).toThrow(/the output of compose config is not valid YAML \(line \d+, column \d+\)/);
  });
});
