/** The one stylesheet: served from /assets/app.css (no inline styles, so the CSP stays strict). */
export const APP_CSS = `
:root { color-scheme: light dark; --fg: #1b1f24; --bg: #fff; --muted: #57606a; --line: #d0d7de; --ok: #1a7f37; --bad: #cf222e; --accent: #0969da; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6edf3; --bg: #0d1117; --muted: #8d96a0; --line: #30363d; --ok: #3fb950; --bad: #f85149; --accent: #4493f8; } }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
a { color: var(--accent); }
.skip { position: absolute; left: -999px; } .skip:focus { left: 1rem; top: 1rem; background: var(--bg); padding: .5rem; }
header { display: flex; gap: 1.5rem; align-items: center; padding: .75rem 1.5rem; border-bottom: 1px solid var(--line); flex-wrap: wrap; }
header nav { display: flex; gap: 1rem; flex-wrap: wrap; } header .who { margin-left: auto; color: var(--muted); }
main { padding: 1.5rem; max-width: 72rem; }
table { border-collapse: collapse; width: 100%; margin: 1rem 0; } th, td { text-align: left; padding: .4rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
form.inline { display: inline; } form.stack { display: grid; gap: .6rem; max-width: 28rem; margin: 1rem 0; }
label { display: grid; gap: .2rem; font-weight: 600; } input, select, textarea, button { font: inherit; padding: .4rem .5rem; }
button { cursor: pointer; border: 1px solid var(--line); border-radius: 6px; background: var(--bg); color: var(--fg); }
button.primary { background: var(--accent); color: #fff; border-color: var(--accent); }
:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
.online { color: var(--ok); font-weight: 600; } .offline { color: var(--bad); font-weight: 600; }
.alert { border: 1px solid var(--bad); color: var(--bad); padding: .6rem .8rem; border-radius: 6px; }
.notice { border: 1px solid var(--ok); color: var(--ok); padding: .6rem .8rem; border-radius: 6px; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .3rem 1rem; } dt { color: var(--muted); }
pre { white-space: pre-wrap; background: color-mix(in srgb, var(--line) 30%, transparent); padding: .5rem; border-radius: 6px; }
`;
