import { html, type Html } from './html.js';

export interface Viewer {
  id: string;
  email: string;
  role: 'admin' | 'operator' | 'viewer';
  csrf: string;
  /** An upgrade or rollback tpctl reports as running now: every page says so. */
  running?: string;
}

/** What every page of this server shows, whoever looks. */
export interface Site {
  version: string;
}

const NAV: { href: string; label: string; admin?: true }[] = [
  { href: '/incidents', label: 'Incidents' },
  { href: '/settings', label: 'Settings' },
  { href: '/settings/agents', label: 'Edge Agents' },
  { href: '/settings/upgrades', label: 'Upgrades & backups' },
  { href: '/settings/tokens', label: 'API tokens' },
  { href: '/settings/integrations', label: 'Integrations', admin: true },
  { href: '/settings/users', label: 'Users', admin: true },
];

/** The page shell: skip link, product and version, navigation, who is signed in (with the logout form), a running operation, the content. */
export function layout(site: Site, title: string, viewer: Viewer | undefined, body: Html): Html {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${title} · AtlasAI Tenant Plane</title>
        <link rel="icon" href="/favicon.ico" type="image/svg+xml" />
        <link rel="stylesheet" href="/assets/app.css" />
        <script src="/assets/app.js" defer></script>
      </head>
      <body>
        <a class="skip" href="#main">Skip to content</a>
        <header>
          <span><strong>AtlasAI Tenant Plane</strong> <span id="site-version">${site.version}</span></span>
          ${
            viewer
              ? html`<nav aria-label="Main">${NAV.filter((n) => !n.admin || viewer.role === 'admin').map((n) => html`<a href="${n.href}">${n.label}</a>`)}</nav>
                  <span class="who">${viewer.email} (${viewer.role})</span>
                  <form class="inline" method="post" action="/logout">
                    <input type="hidden" name="csrf" value="${viewer.csrf}" /><button type="submit">Log out</button>
                  </form>`
              : ''
          }
        </header>
        ${viewer?.running ? html`<p class="banner" role="status" id="running-operation">${viewer.running}</p>` : ''}
        <main id="main">
          <h1>${title}</h1>
          ${body}
        </main>
      </body>
    </html>`;
}

/**
 * A table under its column headings, named for screen readers by `label`; it scrolls sideways on
 * a narrow screen rather than widen the page (focusable, so a keyboard can scroll it).
 */
export function table(label: string, headings: readonly (string | Html)[], rows: unknown): Html {
  return html`<div class="scroll" role="region" aria-label="${label}" tabindex="0">
    <table>
      <caption class="sr">
        ${label}
      </caption>
      <thead>
        <tr>
          ${headings.map((h) => html`<th scope="col">${h}</th>`)}
        </tr>
      </thead>
      <tbody>
        ${rows}
      </tbody>
    </table>
  </div>`;
}

const TITLES: Record<number, string> = { 400: 'Bad request', 403: 'Not allowed', 404: 'Not found', 500: 'Something went wrong' };

/** An error as a page in the site's layout: what happened and where to go. */
export function errorPage(site: Site, status: number, message: string, viewer?: Viewer): Html {
  return layout(
    site,
    TITLES[status] ?? 'Refused',
    viewer,
    html`<p class="alert" role="alert">${message}</p>
      <p><a href="/">Back to the start</a></p>`,
  );
}
