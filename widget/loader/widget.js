// Touchpoint loader (classic script, plain JS): reads its data-* attributes, checks that the page
// lets WebAssembly run, loads the widget (wasm-bindgen glue + wasm, content-hashed names filled in
// by `cargo xtask`) and calls start(config): web pages get the small web module, kiosk and agent
// pages and invitation links (data-invitation) the one with those channels; where the page's CSP forbids wasm it shows the
// collector's /embed page in an iframe instead. Touchpoint.open/close/postCall queue until the wasm
// is ready. Every data-* attribute goes to start(); the wasm reads the ones it knows.
// Lines starting with // are removed from the built file.
(function (w, d) {
  var s = d.currentScript, a, u, b, q = [], T, c, p, f;
  if (!s || w.Touchpoint) return;
  a = s.dataset; u = s.src; b = a.collector || u.slice(0, u.lastIndexOf("/"));
  c = Object.assign({}, a, { base: b });
  if (a.fromUrl != null) {
    p = new URLSearchParams(location.search);
    ["touchpoint", "locale", "segment"].forEach(function (k) { c[k] = p.get(k) || c[k]; });
  }
  T = w.Touchpoint = {
    open: function (o) { q.push(["open", o]); },
    close: function () { q.push(["close"]); },
    postCall: function (o) { q.push(["postCall", o]); }
  };
  function ready(f) {
    d.readyState == "loading" ? d.addEventListener("DOMContentLoaded", f) : f();
  }
  // The fallback lives in a shadow root too, styled by a constructable sheet: no style attribute
  // or element is added to the page.
  function frame() {
    var h = d.createElement("touchpoint-widget"), r = h.attachShadow({ mode: "open" }),
      k = new CSSStyleSheet(), f = d.createElement("iframe"),
      t = c.mode == "inline" && d.querySelector(c.target);
    k.replaceSync(":host{all:initial;display:block;height:640px}iframe{border:0;width:100%;height:100%}" +
      (t ? "" : ":host{position:fixed;bottom:16px;right:16px;width:min(420px,calc(100vw - 32px));height:min(640px,calc(100vh - 32px));z-index:2147483000}"));
    r.adoptedStyleSheets = [k];
    f.src = b + "/embed?touchpoint=" + encodeURIComponent(c.touchpoint || "") +
      "&locale=" + encodeURIComponent(c.locale || navigator.language || "") +
      "&segment=" + encodeURIComponent(c.segment || "");
    f.title = "Feedback";
    r.appendChild(f);
    (t || d.body).appendChild(h);
  }
  try {
    new WebAssembly.Module(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]));
  } catch (e) {
    return ready(frame);
  }
  f = c.mode == "kiosk" || c.mode == "agent" || c.invitation != null ?
    ["@CHANNELS_GLUE@", "@CHANNELS_WASM@"] : ["@GLUE@", "@WASM@"];
  import(new URL(f[0], u).href).then(function (m) {
    return m.default(new URL(f[1], u)).then(function () {
      ready(function () {
        m.start(c);
        T.open = m.open;
        T.close = m.close;
        T.postCall = m.postCall;
        q.forEach(function (x) { m[x[0]](x[1]); });
      });
    });
  }).catch(function (e) {
    console.error("touchpoint: the widget could not load", e);
  });
})(window, document);
