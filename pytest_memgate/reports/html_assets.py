"""The HTML report's style and script, inlined into every page: no file beside it, no fetch.

The Content-Security-Policy lets the page run only what it carries, so nothing a report
holds can make it reach the network."""

CSS = """
:root{--fg:#1f2328;--mute:#59636e;--line:#d1d9e0;--bg:#fff;--bad:#cf222e;--good:#1a7f37;--warn:#9a6700;
--heap:#0969da;--rss:#e16f24;--base:#1a7f37;--fit:#8250df}
*{box-sizing:border-box}
body{margin:0 auto;max-width:1360px;padding:12px;font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;
color:var(--fg);background:var(--bg);overflow-wrap:anywhere}
h1{font-size:1.4em;margin:.2em 0}h2{font-size:1.1em;margin:0 0 .3em}h3{font-size:1em;margin:1em 0 .3em}
code{font:12.5px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
.meta,.facts,.empty,figcaption{color:var(--mute)}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;overflow-wrap:normal;white-space:nowrap}
th,td{border-bottom:1px solid var(--line);padding:4px 8px;text-align:left}
td{font-variant-numeric:tabular-nums}
#summary th button{all:unset;cursor:pointer;font-weight:600}
#summary th[aria-sort=ascending] button::after{content:" \\25B2"}
#summary th[aria-sort=descending] button::after{content:" \\25BC"}
.controls{display:flex;flex-wrap:wrap;gap:8px 16px;margin:8px 0}
input,select{font:inherit;padding:2px 4px;max-width:100%}
.scenario{border-top:2px solid var(--line);margin-top:20px;padding-top:10px}
.badge{display:inline-block;padding:0 6px;border-radius:4px;background:#eaeef2;font-weight:600;font-size:.9em}
.badge.v-regression,.badge.v-error{background:var(--bad);color:#fff}
.badge.v-improved{background:var(--good);color:#fff}
.badge.v-inconclusive,.badge.v-skipped{background:#fff8c5;color:var(--warn)}
tr.v-regression td:nth-child(2),tr.v-error td:nth-child(2){color:var(--bad);font-weight:600}
#summary td:first-child{white-space:normal;overflow-wrap:anywhere;min-width:12ch;max-width:34ch}
#summary td:last-child{white-space:normal;min-width:8ch}
tr.fails td:first-child{box-shadow:inset 4px 0 var(--bad)}.why-fails{color:var(--bad);font-weight:600}
@media (max-width:600px){#summary td:first-child{min-width:16ch;max-width:45vw}
#summary td:nth-child(2){white-space:normal;min-width:10ch}}
.message{white-space:pre-wrap}
.verdict p{margin:.2em 0}.verdict .more{color:var(--mute);font-size:.9em}
.findings li.bad{color:var(--bad)}.findings li.unclear{color:var(--warn)}.findings li.good{color:var(--good)}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,420px),1fr));gap:12px}
figure{margin:0;min-width:0}figcaption{font-size:12px}
.key{display:inline-block;margin-right:10px;max-width:100%}
.sw{display:inline-block;width:14px;height:4px;margin:0 4px 3px 0;vertical-align:middle}
svg{width:100%;height:auto;display:block}
svg text{font:13px system-ui,sans-serif;fill:var(--mute)}
.ytick{text-anchor:end;dominant-baseline:middle}.xtick{text-anchor:middle}.xlabel,.tag{text-anchor:end}
.grid{stroke:#eef1f4}.axis{stroke:var(--line)}
polyline,.fit,.base-line,.budget,.prod{fill:none;stroke-width:1.6}
.heap{stroke:var(--heap)}.sw.heap{background:var(--heap)}
.heap-area{fill:var(--heap);opacity:.08}
.heap.other{stroke-width:1;opacity:.3}.sw.heap.other{opacity:.35}
.heap-dot{fill:var(--heap)}.sw.heap-dot{background:var(--heap)}
.rss{stroke:var(--rss)}.sw.rss{background:var(--rss)}
.base-band{fill:var(--base);opacity:.1}.sw.base-band{background:var(--base);opacity:.35;height:10px}
.base-line{stroke:var(--base);stroke-dasharray:6 4}.sw.base-line{background:var(--base)}
.fit{stroke:var(--fit);stroke-width:2}.sw.fit{background:var(--fit)}
.fit.extrapolated{stroke-dasharray:3 4}
.warm{fill:#8c959f;opacity:.12}.sw.warm{background:#8c959f;opacity:.4;height:10px}
.fan{fill:var(--fit);opacity:.15}.sw.fan{background:var(--fit);opacity:.3;height:10px}
.budget{stroke:var(--bad);stroke-dasharray:2 3}.sw.budget{background:var(--bad)}
.prod{stroke:var(--bad)}.prod-dot{fill:var(--bad)}.sw.prod-dot{background:var(--bad)}
a{color:var(--heap)}
@media print{.controls{display:none}.scroll{overflow:visible}details{display:block}}
"""

# Sorting and filtering: a few lines, no library. Keys are in data-v (numbers sort as numbers).
JS = """
(function(){
var t=document.getElementById("summary");if(!t)return;
var heads=t.tHead.rows[0].cells,body=t.tBodies[0];
Array.prototype.forEach.call(heads,function(th,i){th.querySelector("button").addEventListener("click",function(){
var up=th.getAttribute("aria-sort")!=="ascending";
Array.prototype.forEach.call(heads,function(h){h.removeAttribute("aria-sort");});
th.setAttribute("aria-sort",up?"ascending":"descending");
var rows=Array.prototype.slice.call(body.rows);
rows.sort(function(r,s){var x=r.cells[i].getAttribute("data-v"),y=s.cells[i].getAttribute("data-v");
var a=parseFloat(x),b=parseFloat(y),d=(isNaN(a)||isNaN(b))?x.localeCompare(y):(a===b?0:(a<b?-1:1));
return up?d:-d;});
rows.forEach(function(r){body.appendChild(r);});});});
var q=document.getElementById("q"),v=document.getElementById("verdict");
function show(){var text=q.value.toLowerCase(),want=v.value;
Array.prototype.forEach.call(document.querySelectorAll("[data-verdict]"),function(e){
var got=e.getAttribute("data-verdict"),fails=e.classList.contains("fails");
e.hidden=!(e.getAttribute("data-id").toLowerCase().indexOf(text)>=0&&
(!want||got===want||(want==="failing"&&fails)));});}
q.addEventListener("input",show);v.addEventListener("change",show);
})();
"""

CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"
