import { html, type Html } from './html.js';

export interface Viewer {
  email: string;
  role: 'admin' | 'operator' | 'viewer';
  csrf: string;
}

/** The page shell: skip link, navigation, who is signed in (with the logout form), the content. */
export function layout(title: string, viewer: Viewer | undefined, body: Html, options: { refreshSeconds?: number } = {}): Html {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        ${options.refreshSeconds ? html`<meta http-equiv="refresh" content="${options.refreshSeconds}" />` : ''}
        <title>${title} · AtlasAI Tenant Plane</title>
        <link rel="stylesheet" href="/assets/app.css" />
      </head>
      <body>
        <a class="skip" href="#main">Skip to content</a>
        <header>
          <strong>AtlasAI Tenant Plane</strong>
          ${
            viewer
              ? html`<nav aria-label="Main">
                    <a href="/incidents">Incidents</a>
                    <a href="/settings">Settings</a>
                    <a href="/settings/agents">Edge Agents</a>
                    ${viewer.role === 'admin' ? html`<a href="/settings/integrations">Integrations</a> <a href="/settings/users">Users</a>` : ''}
                  </nav>
                  <span class="who">${viewer.email} (${viewer.role})</span>
                  <form class="inline" method="post" action="/logout">
                    <input type="hidden" name="csrf" value="${viewer.csrf}" /><button type="submit">Log out</button>
                  </form>`
              : ''
          }
        </header>
        <main id="main">
          <h1>${title}</h1>
          ${body}
        </main>
      </body>
    </html>`;
}
