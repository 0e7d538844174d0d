import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { appRoot } from '../../src/shared/app-root.js';

/** README.md and every Markdown file under docs/. */
function documents(): string[] {
  const under = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? under(path.join(dir, e.name)) : e.name.endsWith('.md') ? [path.join(dir, e.name)] : [],
    );
  return [path.join(appRoot, 'README.md'), ...under(path.join(appRoot, 'docs'))];
}

/** The targets of a document's Markdown links that are files of this repository (not web addresses, not anchors alone). */
function fileLinks(text: string): string[] {
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!).filter((t) => !/^[a-z]+:/.test(t) && !t.startsWith('#'));
}

describe('the README and the docs', () => {
  it('the README is a front door: at most 200 lines', () => {
    expect(readFileSync(path.join(appRoot, 'README.md'), 'utf8').trimEnd().split('\n').length).toBeLessThanOrEqual(200);
  });

  it('every link to a file of the repository resolves, from where the document is', () => {
    const docs = documents();
    expect(docs.length).toBeGreaterThan(5);
    const broken = docs.flatMap((doc) =>
      fileLinks(readFileSync(doc, 'utf8'))
        .filter((target) => !existsSync(path.resolve(path.dirname(doc), target.replace(/#.*$/, ''))))
        .map((target) => `${path.relative(appRoot, doc)}: ${target}`),
    );
    expect(broken).toEqual([]);
  });

  it('finds a broken link when there is one (the check itself)', () => {
    expect(fileLinks('see [the guide](docs/nowhere.md#top), [a site](https://example.com) and [here](#below)')).toEqual(['docs/nowhere.md#top']);
  });
});
