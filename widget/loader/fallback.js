// The survey where the page's CSP forbids WebAssembly: the collector's /embed page in an iframe.
// The loader imports this module only then, so other pages never download it. An inline page gets
// the iframe in its target; any other page gets what the launcher gives: a button labelled in the
// page's locale, the survey in a panel on click (the iframe made on the first), a close button, and
// Escape (here, or inside the survey: /embed.js tells this page) closes it and returns the focus to
// the button. X is its texts by locale, from the protocol's instrument: [launcher, close, title,
// code, right-to-left] (the loader carries only the launcher's words, which every visitor
// downloads); the build fills them in, and the launcher's rules, the widget's own. Everything
// lives in a shadow root styled by a constructable sheet: no style attribute or element is added
// to the page.
// Lines starting with // are removed from the built file.
export function frame(c, d) {
  var h = d.createElement("touchpoint-widget"), r = h.attachShadow({ mode: "open" }),
    k = new CSSStyleSheet(), f = d.createElement("iframe"),
    t = c.mode == "inline" && d.querySelector(c.target),
    l = (c.locale || navigator.language || "").toLowerCase().split(/[-_]/)[0],
    X = @FRAME_TEXTS@, x = X[l] || X.en, o = new URL(c.base, location.href).origin, b, p, e;
  function el(n, a, v, s) {
    var e = d.createElement(n);
    e.setAttribute("part", a);
    e.className = a;
    e.textContent = v;
    if (s) e.setAttribute("aria-label", s);
    return e;
  }
  // The /embed page in the iframe, appended to `n`.
  function load(n) {
    f.src = c.base + "/embed?touchpoint=" + encodeURIComponent(c.touchpoint || "") +
      "&locale=" + encodeURIComponent(c.locale || navigator.language || "") +
      "&segment=" + encodeURIComponent(c.segment || "");
    n.appendChild(f);
  }
  // Open: the iframe on the first, the focus into it, and the survey asked to focus its first
  // question. Close: the focus back to the launcher.
  function show(v) {
    p.hidden = !v;
    b.setAttribute("aria-expanded", v);
    if (!v) return b.focus();
    if (!f.src) {
      f.onload = function () { p.hidden || show(true); };
      return load(p);
    }
    f.focus();
    f.contentWindow.postMessage("touchpoint:open", o);
  }
  f.title = x[2];
  h.lang = x[3];
  h.dir = x[4] ? "rtl" : "ltr";
  k.replaceSync(":host{all:initial;display:block}iframe{border:0;width:100%;height:100%}" + (t
    ? ":host{height:640px}"
    : @LAUNCHER_CSS@ +
      ".panel{position:absolute;bottom:56px;right:0;display:flex;flex-direction:column;" +
      "width:min(420px,calc(100vw - 32px));height:min(640px,calc(100vh - 96px));" +
      "background:var(--tp-bg,#fff);border:1px solid var(--tp-border,#6e7781);" +
      "border-radius:var(--tp-radius,10px);box-shadow:0 8px 24px #0005;overflow:hidden}" +
      ".close{align-self:flex-end;background:none;border:0;color:var(--tp-fg,#1f2328);font-size:22px}" +
      "iframe{flex:1;height:auto}"));
  r.adoptedStyleSheets = [k];
  if (t) {
    load(r);
    return t.appendChild(h);
  }
  // The launcher's rules place a launcher host (mode=launcher) in the corner.
  h.setAttribute("mode", "launcher");
  b = el("button", "launcher", x[0]);
  p = el("div", "panel", "");
  p.setAttribute("role", "dialog");
  p.setAttribute("aria-label", x[2]);
  p.hidden = true;
  e = el("button", "close", "\u00d7", x[1]);
  e.onclick = function () { show(false); };
  b.onclick = function () { show(p.hidden); };
  p.appendChild(e);
  r.append(b, p);
  r.addEventListener("keydown", function (v) {
    if (v.key == "Escape" && !p.hidden) show(false);
  });
  addEventListener("message", function (v) {
    if (v.source == f.contentWindow && v.data == "touchpoint:close" && !p.hidden) show(false);
  });
  d.body.appendChild(h);
}
