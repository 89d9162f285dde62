/** The whole stylesheet, served once from /assets/app.css (so the CSP can forbid inline styles). */
export const STYLESHEET = `
:root {
  --bg: #f5f6f8; --card: #fff; --text: #1d2330; --muted: #5b6475; --line: #e2e5ea;
  --brand: #3451b2; --brand-dark: #263d8c; --danger: #b42318; --danger-bg: #fef3f2;
  --ok: #067647; --ok-bg: #ecfdf3; --info: #1849a9; --info-bg: #eff4ff; --radius: 10px;
  color-scheme: light;
}
* { box-sizing: border-box; }
html { font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
body { margin: 0; background: var(--bg); color: var(--text); }
a { color: var(--brand); }
a:hover { color: var(--brand-dark); }
.topbar { background: var(--card); border-bottom: 1px solid var(--line); }
.topbar-inner { max-width: 880px; margin: 0 auto; padding: 0 20px; height: 60px;
  display: flex; align-items: center; gap: 24px; }
.brand { font-weight: 700; font-size: 1.1rem; color: var(--text); text-decoration: none; display: flex; align-items: center; gap: 8px; }
.brand-mark { width: 28px; height: 28px; border-radius: 7px; background: var(--brand); color: #fff;
  display: inline-grid; place-items: center; font-size: .9rem; }
.nav { display: flex; gap: 4px; flex: 1; }
.nav a { color: var(--muted); text-decoration: none; padding: 6px 10px; border-radius: 6px; font-size: .95rem; }
.nav a:hover { background: var(--bg); color: var(--text); }
.nav a[aria-current="page"] { color: var(--brand); background: var(--info-bg); font-weight: 600; }
.who { display: flex; align-items: center; gap: 12px; color: var(--muted); font-size: .9rem; margin-left: auto; }
.nav:empty { display: none; }
main { max-width: 880px; margin: 32px auto; padding: 0 20px; }
.narrow { max-width: 440px; margin-left: auto; margin-right: auto; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: var(--radius);
  padding: 28px; box-shadow: 0 1px 2px rgba(16, 24, 40, .04); }
.card + .card { margin-top: 20px; }
h1 { font-size: 1.6rem; line-height: 1.25; margin: 0 0 6px; }
h2 { font-size: 1.15rem; margin: 0 0 12px; }
.lead { color: var(--muted); margin: 0 0 24px; }
.muted { color: var(--muted); }
.flash { border-radius: var(--radius); padding: 12px 16px; margin-bottom: 20px; border: 1px solid; }
.flash-success { background: var(--ok-bg); color: var(--ok); border-color: #abefc6; }
.flash-info { background: var(--info-bg); color: var(--info); border-color: #b2ccff; }
.flash-error { background: var(--danger-bg); color: var(--danger); border-color: #fecdca; }
form.stack { display: grid; gap: 16px; }
label { display: block; font-weight: 600; font-size: .9rem; margin-bottom: 6px; }
input[type=email], input[type=password], input[type=text] {
  width: 100%; padding: 10px 12px; font: inherit; color: inherit; background: #fff;
  border: 1px solid #cfd4dc; border-radius: 8px; }
input:focus { outline: 3px solid #c7d7fe; border-color: var(--brand); }
input[aria-invalid="true"] { border-color: var(--danger); }
.field-error { color: var(--danger); font-size: .85rem; margin-top: 4px; }
.hint { color: var(--muted); font-size: .85rem; margin-top: 4px; }
.check { display: flex; align-items: center; gap: 8px; font-weight: 400; margin: 0; }
.check input { width: 16px; height: 16px; }
button, .button { display: inline-flex; justify-content: center; align-items: center; gap: 6px;
  font: inherit; font-weight: 600; border-radius: 8px; padding: 10px 16px; cursor: pointer;
  border: 1px solid var(--brand); background: var(--brand); color: #fff; text-decoration: none; }
button:hover, .button:hover { background: var(--brand-dark); color: #fff; }
button.secondary, .button.secondary { background: #fff; color: var(--text); border-color: #cfd4dc; }
button.secondary:hover, .button.secondary:hover { background: var(--bg); color: var(--text); }
button.danger { background: #fff; color: var(--danger); border-color: #fda29b; }
button.danger:hover { background: var(--danger-bg); }
button:disabled, button:disabled:hover { opacity: .45; cursor: not-allowed; background: #fff; }
button.small, .button.small { padding: 6px 12px; font-size: .85rem; }
form.inline { display: inline; margin: 0; }
.alt { margin-top: 20px; color: var(--muted); font-size: .95rem; text-align: center; }
.actions { display: flex; gap: 12px; flex-wrap: wrap; margin-top: 8px; }
dl.facts { display: grid; grid-template-columns: 140px 1fr; gap: 10px 16px; margin: 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; }
.badge { display: inline-block; font-size: .75rem; font-weight: 600; padding: 2px 8px; border-radius: 999px;
  background: var(--info-bg); color: var(--info); vertical-align: middle; }
.badge-ok { background: var(--ok-bg); color: var(--ok); }
ul.devices { list-style: none; margin: 0; padding: 0; }
ul.devices li { display: flex; align-items: center; gap: 16px; padding: 16px 0; border-top: 1px solid var(--line); }
ul.devices li:first-child { border-top: 0; }
.device { flex: 1; min-width: 0; }
.device-name { font-weight: 600; }
.device-meta { color: var(--muted); font-size: .85rem; overflow-wrap: anywhere; }
.hero { text-align: center; padding: 48px 28px; }
.hero h1 { font-size: 2rem; }
.hero .actions { justify-content: center; }
.features { display: grid; grid-template-columns: repeat(auto-fit, minmax(220px, 1fr)); gap: 16px; margin-top: 20px; }
.feature { background: var(--card); border: 1px solid var(--line); border-radius: var(--radius); padding: 18px; }
.feature h3 { margin: 0 0 6px; font-size: 1rem; }
.feature p { margin: 0; color: var(--muted); font-size: .9rem; }
footer { max-width: 880px; margin: 40px auto; padding: 0 20px; color: var(--muted); font-size: .8rem; text-align: center; }
@media (max-width: 640px) {
  .topbar-inner { gap: 12px; height: auto; padding: 12px 16px; flex-wrap: wrap; }
  .who span { display: none; }
  dl.facts { grid-template-columns: 1fr; gap: 2px; }
  dl.facts dd { margin-bottom: 10px; }
}
`;
