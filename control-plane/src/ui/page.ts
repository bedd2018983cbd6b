/**
 * The UI's HTML shell and stylesheet, as text (shipped inside dist). The page holds no data: the
 * script asks for the token and loads everything through the API.
 */
export const STYLE_CSS = `
:root { color-scheme: light dark; --fg: #1d2127; --muted: #6a737d; --bg: #fff; --line: #e1e4e8; --code: #f6f8fa;
  --ok: #1a7f37; --bad: #cf222e; --run: #0969da; --wait: #9a6700; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6edf3; --muted: #8b949e; --bg: #0d1117; --line: #30363d; --code: #161b22; } }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; align-items: center; gap: 1rem; padding: .6rem 1.2rem; border-bottom: 1px solid var(--line); }
header h1 { font-size: 1.05rem; margin: 0; }
header h1 a { color: inherit; text-decoration: none; }
header .spacer { flex: 1; }
main { padding: 1rem 1.2rem; }
a { color: var(--run); }
button { font: inherit; padding: .3rem .8rem; border-radius: 6px; border: 1px solid var(--line); background: var(--code); color: inherit; cursor: pointer; }
button#cancel { border-color: var(--bad); color: var(--bad); margin-left: .5rem; }
button:disabled { opacity: .5; cursor: default; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; color: var(--muted); }
td.prompt { max-width: 40rem; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.filters { display: flex; gap: .8rem; margin-bottom: .6rem; }
.filters a.active { font-weight: 700; text-decoration: none; color: var(--fg); }
.status { display: inline-block; padding: 0 .5rem; border-radius: 1rem; font-size: .8rem; font-weight: 600; border: 1px solid currentColor; }
.status-queued { color: var(--wait); } .status-running { color: var(--run); } .status-succeeded { color: var(--ok); }
.status-failed { color: var(--bad); } .status-canceled { color: var(--muted); }
.muted { color: var(--muted); }
#error { background: var(--bad); color: #fff; padding: .4rem 1.2rem; margin: 0; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; }
dl.meta dt { color: var(--muted); } dl.meta dd { margin: 0; white-space: pre-wrap; }
.panes { display: grid; grid-template-columns: 1fr 1fr; gap: 1rem; }
@media (max-width: 900px) { .panes { grid-template-columns: 1fr; } }
pre { background: var(--code); padding: .6rem; border-radius: 6px; overflow: auto; margin: .3rem 0; }
pre.raw { max-height: 70vh; font-size: 12px; white-space: pre-wrap; word-break: break-all; }
.activity { display: flex; flex-direction: column; gap: .5rem; max-height: 75vh; overflow: auto; }
.entry { border-left: 3px solid var(--line); padding: .2rem .6rem; }
.entry .label { font-size: .75rem; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
.entry p { margin: .2rem 0; white-space: pre-wrap; }
.entry-agent { border-color: var(--run); } .entry-warning { border-color: var(--wait); } .entry-error { border-color: var(--bad); } .entry-files { border-color: var(--ok); }
.entry-command pre.output { max-height: 16rem; font-size: 12px; }
.entry-command pre.output:empty { display: none; }
.exit { margin-left: .6rem; font-size: .8rem; } .exit.ok { color: var(--ok); } .exit.bad { color: var(--bad); }
.kind { font-size: .75rem; text-transform: uppercase; color: var(--ok); }
.dialog { position: fixed; inset: 0; background: rgba(0,0,0,.45); display: flex; align-items: center; justify-content: center; }
.dialog[hidden] { display: none; }
.dialog form { background: var(--bg); padding: 1.2rem; border-radius: 8px; min-width: 22rem; display: flex; flex-direction: column; gap: .6rem; }
.dialog input { font: inherit; padding: .35rem; }
`

/** The page; `{{SCRIPT}}` and `{{STYLE}}` are replaced by routes/ui.ts. */
export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>codex-dispatcher</title>
<style>{{STYLE}}</style>
</head>
<body>
<header>
  <h1><a href="#/">codex-dispatcher</a></h1>
  <span class="spacer"></span>
  <a href="/openapi.json">API</a>
  <button type="button" id="forget-token">Forget token</button>
</header>
<p id="error" role="alert" hidden></p>
<main id="main"></main>
<div class="dialog" id="token-dialog" hidden>
  <form id="token-form" method="post" autocomplete="off">
    <label for="token-input"><strong>Dispatch token</strong></label>
    <span id="token-message" class="muted"></span>
    <input id="token-input" name="token" type="password" autocomplete="off" required>
    <button type="submit">Use token</button>
    <span class="muted">Kept in this tab's session storage only; sent as X-Dispatch-Token.</span>
  </form>
</div>
<script>{{SCRIPT}}</script>
</body>
</html>
`
