/** The one stylesheet: served from /assets/app.css (no inline styles, so the CSP stays strict). */
export const APP_CSS = `
:root { color-scheme: light dark; --fg: #1b1f24; --bg: #fff; --muted: #57606a; --line: #d0d7de; --ok: #1a7f37; --bad: #cf222e; --accent: #0969da; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6edf3; --bg: #0d1117; --muted: #8d96a0; --line: #30363d; --ok: #3fb950; --bad: #f85149; --accent: #4493f8; } }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
a { color: var(--accent); }
.skip { position: absolute; left: -999px; } .skip:focus { left: 1rem; top: 1rem; background: var(--bg); padding: .5rem; }
.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); white-space: nowrap; }
header { display: flex; gap: 1.5rem; align-items: center; padding: .75rem 1.5rem; border-bottom: 1px solid var(--line); flex-wrap: wrap; }
header nav { display: flex; gap: .4rem 1rem; flex-wrap: wrap; } header .who { margin-left: auto; color: var(--muted); }
#site-version { color: var(--muted); }
main { padding: 1.5rem; max-width: 72rem; }
.banner { margin: 0; padding: .6rem 1.5rem; background: var(--accent); color: #fff; font-weight: 600; }
.scroll { overflow-x: auto; max-width: 100%; position: relative; } .scroll table { min-width: 44rem; } td code { white-space: nowrap; }
code, pre { overflow-wrap: anywhere; }
@media (max-width: 40rem) { header { padding: .6rem 1rem; gap: .5rem 1rem; } header .who { margin-left: 0; } main { padding: 1rem; } h1 { font-size: 1.5rem; } }
table { border-collapse: collapse; width: 100%; margin: 1rem 0; } th, td { text-align: left; padding: .4rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
form.inline { display: inline; } form.stack { display: grid; gap: .6rem; max-width: 28rem; margin: 1rem 0; }
label { display: grid; gap: .2rem; font-weight: 600; } label.check { display: flex; gap: .4rem; align-items: center; font-weight: 400; }
[hidden] { display: none !important; } input, select, textarea, button { font: inherit; padding: .4rem .5rem; }
button { cursor: pointer; border: 1px solid var(--line); border-radius: 6px; background: var(--bg); color: var(--fg); }
button.primary { background: var(--accent); color: #fff; border-color: var(--accent); }
:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
.online { color: var(--ok); font-weight: 600; } .offline { color: var(--bad); font-weight: 600; }
.alert { border: 1px solid var(--bad); color: var(--bad); padding: .6rem .8rem; border-radius: 6px; }
.notice { border: 1px solid var(--ok); color: var(--ok); padding: .6rem .8rem; border-radius: 6px; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .3rem 1rem; } dt { color: var(--muted); }
fieldset { border: 1px solid var(--line); border-radius: 6px; } .actions { display: flex; flex-wrap: wrap; gap: .5rem; align-items: end; }
pre { white-space: pre-wrap; background: color-mix(in srgb, var(--line) 30%, transparent); padding: .5rem; border-radius: 6px; }
`;

/** The icon: an "A" on the accent colour, as SVG (every browser asks for /favicon.ico). */
export const FAVICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="#0969da"/><path d="M9 25 16 7l7 18h-4l-1.4-4h-3.2L13 25zm5.6-7.5h2.8L16 13.3z" fill="#fff"/></svg>`;

/**
 * The one script, for what a page does better with JavaScript and works without: the copy
 * buttons beside a secret shown once, reading a license file into its text box, and a part of
 * a page kept up to date (the agents' table) while its box is ticked: the page itself is not
 * reloaded, so nothing typed is lost and a reader can stop it (WCAG 2.2.1).
 */
export const APP_JS = `
document.addEventListener('click', (event) => {
  const button = event.target.closest('button[data-copy]');
  if (!button) return;
  const source = document.getElementById(button.dataset.copy);
  navigator.clipboard.writeText(source.textContent.trim()).then(() => { button.textContent = 'Copied'; }, () => { button.textContent = 'Select and copy by hand'; });
});
document.addEventListener('DOMContentLoaded', () => {
  const live = document.querySelector('[data-refresh]');
  const toggle = document.getElementById('auto-refresh');
  if (live && toggle) {
    toggle.closest('label').hidden = false;
    setInterval(async () => {
      if (!toggle.checked) return;
      const res = await fetch(location.href);
      const fresh = res.ok && new DOMParser().parseFromString(await res.text(), 'text/html').querySelector('[data-refresh]');
      if (fresh) live.replaceChildren(...fresh.childNodes);
    }, Number(live.dataset.refresh) * 1000);
  }
  for (const button of document.querySelectorAll('button[data-copy]')) button.hidden = false;
  for (const input of document.querySelectorAll('input[type=file][data-into]')) {
    input.closest('label').hidden = false;
    input.addEventListener('change', async () => {
      const file = input.files[0];
      if (file) document.getElementById(input.dataset.into).value = (await file.text()).trim();
    });
  }
});
`;
