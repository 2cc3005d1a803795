"""The dashboard page's one inline style sheet (no external asset: the page works offline)."""

__all__ = ["CSS"]

CSS = r"""
:root{--ink:#1d2733;--muted:#66727f;--line:#dde3ea;--bg:#f4f6f9;--card:#fff;
--succeeded:#2e7d32;--succeeded-bg:#e9f5ea;--failed:#c62828;--failed-bg:#fdecec;
--partial:#a35c00;--partial-bg:#fff3e0;--exported:#4f6472;--exported-bg:#e9eef2;
--running:#1565c0;--running-bg:#e4f0fc;--refused:#6a1b9a;--refused-bg:#f3e8f8;--none:#9aa5b1}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.45 system-ui,-apple-system,"Segoe UI",
"DejaVu Sans","Liberation Sans",Arial,sans-serif}
code,pre{font-family:ui-monospace,"DejaVu Sans Mono","Liberation Mono",Menlo,Consolas,monospace;font-size:12.5px}
.top{display:flex;flex-wrap:wrap;justify-content:space-between;align-items:center;gap:12px;
padding:16px 28px;background:#17324d;color:#fff}
.top h1{margin:0;font-size:21px;font-weight:600}
.top .zone{font-weight:400;opacity:.8;margin-left:6px}
.top .sub{margin:2px 0 0;opacity:.8;font-size:13px}
.top code{color:#fff}
.summary{display:flex;flex-wrap:wrap;gap:8px;list-style:none;margin:0;padding:0}
.chip{padding:3px 10px;border-radius:999px;font-size:13px;font-weight:600;background:#fff}
main{padding:20px 28px 40px;max-width:1500px}
.grid-wrap{overflow-x:auto;min-width:0;background:var(--card);border:1px solid var(--line);border-radius:8px}
table{border-collapse:collapse}
.grid{table-layout:fixed}
.grid-wrap+.grid-wrap{margin-top:16px}
.grid .corner{width:210px;vertical-align:bottom}
.grid caption{text-align:left;padding:12px 12px 4px;font-size:15px;font-weight:600}
.grid th{padding:8px 10px;border-bottom:1px solid var(--line);vertical-align:top}
.grid tbody tr:last-child th{border-bottom:0}
.grid thead th{text-align:left;font-weight:600;color:var(--muted);font-size:12px;text-transform:uppercase;
letter-spacing:.04em}
.grid .space-h th{text-align:left;background:var(--bg);font-size:13px;padding:8px 10px}
.grid .env-h{color:var(--ink);font-size:13px;text-transform:none;letter-spacing:0}
.grid th[scope=row]{text-align:left;overflow-wrap:anywhere}
.pname{display:block;font-size:15px;font-weight:600}
.slug{display:block;color:var(--muted);font-weight:400;font-size:12px}
.grid td{padding:8px 10px;height:86px;vertical-align:top;border:4px solid var(--card);background:var(--cb,#f7f8fa);
box-shadow:inset 5px 0 var(--c,var(--none));color:var(--c,var(--none));font-size:13px;font-weight:600;
overflow-wrap:anywhere}
.grid td>a{display:block;color:inherit;text-decoration:none}
.grid td>a:hover b{text-decoration:underline}
.grid td>a:focus-visible{outline:2px solid #17324d;outline-offset:2px}
.grid td b{font-size:18px;font-weight:700;color:var(--ink)}
.grid td b::after{content:"\A" var(--i) / "";white-space:pre;font-size:13px;color:var(--c)}
.grid td[data-state=none]{background:transparent;box-shadow:none;outline:1px dashed #c9d1da;outline-offset:-4px;
font-weight:400;text-align:center;vertical-align:middle}
.grid td .prev{display:block;color:var(--muted);font-size:12.5px;font-weight:400;margin-top:3px}
.grid td .why,.grid td .via{display:block;color:var(--muted);font-size:12px;font-weight:400}
.grid td ul{list-style:none;margin:4px 0 0;padding:0;font-size:12.5px;font-weight:400;color:var(--failed)}
.grid td li::before{content:"\2716  " / ""}
.grid td li a{color:inherit}
[data-state=succeeded]{--c:var(--succeeded);--cb:var(--succeeded-bg);--i:"\2714"}
[data-state=failed]{--c:var(--failed);--cb:var(--failed-bg);--i:"\2716"}
[data-state=partial]{--c:var(--partial);--cb:var(--partial-bg);--i:"\25d1"}
[data-state=exported]{--c:var(--exported);--cb:var(--exported-bg);--i:"\25f7"}
[data-state=running]{--c:var(--running);--cb:var(--running-bg);--i:"\25b6"}
[data-state=refused]{--c:var(--refused);--cb:var(--refused-bg);--i:"\2298"}
.state-succeeded{--c:var(--succeeded);--cb:var(--succeeded-bg)}
.state-failed{--c:var(--failed);--cb:var(--failed-bg)}
.state-partial{--c:var(--partial);--cb:var(--partial-bg)}
.state-exported{--c:var(--exported);--cb:var(--exported-bg)}
.state-running{--c:var(--running);--cb:var(--running-bg)}
.state-refused{--c:var(--refused);--cb:var(--refused-bg)}
.state-muted{--c:var(--muted)}
.chip{color:var(--c)}
.deps-title{margin:30px 0 10px;font-size:17px}
.deployment{background:var(--card);border:1px solid var(--line);border-radius:8px;margin:0 0 16px;
overflow:hidden}
.deployment:target{box-shadow:0 0 0 3px #8fb4d9}
.dep-head{display:flex;justify-content:space-between;align-items:center;gap:10px;padding:10px 16px;
background:var(--cb);border-left:5px solid var(--c)}
.dep-head h3{margin:0;font-size:15px;font-weight:600}
.dep-head .release{font-weight:700}
.arrow{color:var(--muted);margin:0 2px}
.badge{color:#fff;background:var(--c);padding:2px 10px;border-radius:999px;font-size:12.5px;font-weight:600;
white-space:nowrap}
.meta{display:flex;flex-wrap:wrap;gap:4px 22px;margin:10px 16px;font-size:13px}
.meta dt{color:var(--muted)}
.meta dt::after{content:":"}
.meta div{display:flex;gap:5px}
.meta dd{margin:0}
.nosteps{margin:4px 16px 12px;color:var(--muted)}
.steps{width:calc(100% - 32px);margin:4px 16px 8px;font-size:13px;table-layout:fixed}
.steps th:nth-child(1){width:22%}.steps th:nth-child(2){width:14%}.steps th:nth-child(3){width:19%}
.steps th:nth-child(4),.steps th:nth-child(5){width:9%}
.steps td{overflow-wrap:anywhere}
.steps th{text-align:left;color:var(--muted);font-weight:600;font-size:12px;border-bottom:1px solid var(--line);
padding:6px 8px}
.steps td{padding:6px 8px;border-top:1px solid var(--line);vertical-align:top}
.steps .log-row td{border-top:0;padding-top:0}
.step-name{font-weight:600}
.step-state{font-weight:600;color:var(--c)}
.reason{display:block;color:var(--muted);font-size:12px}
.num{font-variant-numeric:tabular-nums;white-space:nowrap}
.muted{color:var(--muted)}
.outputs{list-style:none;margin:0;padding:0}
.sensitive{color:var(--muted);letter-spacing:.1em}
.withheld{color:var(--muted);font-style:italic}
details summary{cursor:pointer;color:#2b5a86;font-size:12.5px;padding:2px 0}
pre{margin:4px 0 6px;padding:8px 10px;background:#101820;color:#e3e8ee;border-radius:6px;max-height:360px;
overflow:auto;white-space:pre-wrap;overflow-wrap:anywhere}
.omitted{margin:4px 0;color:var(--muted);font-size:12px}
.back{margin:0 16px 12px;font-size:12.5px}
.back a{color:#2b5a86}
.empty{background:var(--card);border:1px dashed var(--line);border-radius:8px;padding:28px;color:var(--muted);
font-size:15px}
footer{padding:0 28px 24px;color:var(--muted);font-size:12px}
.chip a{color:inherit}
.tenant,.space{display:block;color:var(--muted);font-weight:400;font-size:12px}
.zone-h .via{font-weight:400;color:var(--muted);font-size:13px;margin-left:4px}
ol.path{margin:0;padding-left:18px}
.paths{list-style:none;margin:4px 0 0;padding:0;color:var(--muted);font-weight:400;font-size:11.5px}
.omitted-fails{margin:6px 0 0;color:var(--muted);font-size:13px}
.failures{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:10px 16px;margin:20px 0}
.failures h2{margin:0 0 6px;font-size:17px}
.failures ul{margin:0;padding-left:18px}
.failures a{color:var(--failed)}
"""
