// The survey where the page's CSP forbids WebAssembly: the collector's /embed page in an iframe.
// The loader imports this module only then, so other pages never download it. The iframe lives in
// a shadow root too, styled by a constructable sheet: no style attribute or element is added to the
// page. Lines starting with // are removed from the built file.
export function frame(c, d) {
  var h = d.createElement("touchpoint-widget"), r = h.attachShadow({ mode: "open" }),
    k = new CSSStyleSheet(), f = d.createElement("iframe"),
    t = c.mode == "inline" && d.querySelector(c.target);
  k.replaceSync(":host{all:initial;display:block;height:640px}iframe{border:0;width:100%;height:100%}" +
    (t ? "" : ":host{position:fixed;bottom:16px;right:16px;width:min(420px,calc(100vw - 32px));height:min(640px,calc(100vh - 32px));z-index:2147483000}"));
  r.adoptedStyleSheets = [k];
  f.src = c.base + "/embed?touchpoint=" + encodeURIComponent(c.touchpoint || "") +
    "&locale=" + encodeURIComponent(c.locale || navigator.language || "") +
    "&segment=" + encodeURIComponent(c.segment || "");
  f.title = "Feedback";
  r.appendChild(f);
  (t || d.body).appendChild(h);
}
