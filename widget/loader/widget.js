// Touchpoint loader (classic script, plain JS): reads its data-* attributes, checks that the page
// lets WebAssembly run, loads the widget (wasm-bindgen glue + wasm, content-hashed names filled in
// by `cargo xtask`) and calls start(config). A web page gets the small web module of its locale
// (data-locale, else the browser's language, else English); kiosk and agent pages and invitation
// links (data-invitation) get the one with those channels and every locale, at once, and so do
// inline pages. A launcher page pays on intent: the loader draws the launcher itself (labelled in
// the page's locale from the instrument's texts, with the module's launcher rules, in a shadow root
// with a constructable sheet) and imports the module only when the visitor shows intent (a pointer
// over the launcher, focus on it, a touch, Touchpoint.open()); the module's launcher then takes
// its place, and a click that came first opens the survey once the module is ready. Where the page's CSP
// forbids wasm it imports the fallback (fallback.js), which shows the collector's /embed page in
// an iframe instead. Touchpoint.open/close/postCall queue until the wasm is ready;
// open({locale}) naming another web locale hands the page to that locale's module. Every data-*
// attribute goes to start(); the wasm reads the ones it knows. A web module stores each answer and
// sends it itself; where earlier pages left answers waiting, the loader loads the page's module at
// once, and it sends them.
// Lines starting with // are removed from the built file.
(function (w, d) {
  var s = d.currentScript, a, u, b, q = [], T, c, p, m, L, M = {}, H = {}, G = @WEB_GLUE@, W = @WEB@,
    X = @TEXTS@, C = @LAUNCHER_CSS@, h, S, Z, K = 0;
  if (!s) return;
  u = s.src;
  // A second tag: the widget is on the page already.
  if (w.Touchpoint) return say(7);
  a = s.dataset; b = a.collector || u.slice(0, u.lastIndexOf("/"));
  // css: the launcher's rules, the start of a web module's sheet (it does not carry them again).
  c = Object.assign({}, a, { base: b, css: C });
  if (a.fromUrl != null) {
    p = new URLSearchParams(location.search);
    ["touchpoint", "locale", "segment"].forEach(function (k) { c[k] = p.get(k) || c[k]; });
  }
  // The tag's settings, checked here once for every module, which reads them as they come: each
  // wrong or missing one gets one console message (notes.js) and is left out (a wrong mode
  // becomes the launcher). Identifiers are the protocol's (its rule, filled in by
  // `cargo xtask`). Empty counts as not given.
  /^https?:\/\//.test(b) ? c.base = b.replace(/\/+$/, "") : say(0, delete c.base);
  tag("touchpoint", 1, 1);
  tag("mode", 2);
  c.mode == "inline" && !c.target && say(3);
  tag("locale", 4);
  tag("segment", 5);
  tag("interaction", 6);
  // Until a module is ready, the API queues its calls.
  function wait() {
    ["open", "close", "postCall"].forEach(function (k) {
      T[k] = function (o) {
        q.push([k, o]);
        k == "open" && want();
      };
    });
  }
  // Console message n of notes.js, a module imported only when one is due: a wrong setting, or a
  // module's message (Touchpoint.note). Where it cannot be fetched (the collector unreachable,
  // so the widget cannot work either), the number alone: the widget's README lists them.
  function say(n) {
    import(new URL("@NOTES@", u).href).then(function (m) { m.say(n); }).catch(function () {
      console.warn("touchpoint: message " + n);
    });
  }
  // Whether o[k] is given (a non-empty string) and wrong; a required one (r) is wrong when
  // missing too. A locale must be one the widget speaks, a mode one it has.
  function bad(o, k, r) {
    var v = o[k];
    return typeof v != "string" || !v ? r : !(k == "locale" ? web(v) :
      k == "mode" ? /^(launcher|inline|kiosk|agent)$/.test(v) : @IDENT@.test(v));
  }
  // A wrong tag setting k: message n, and the module gets none.
  function tag(k, n, r) {
    bad(c, k, r) && say(n, delete c[k]);
  }
  T = w.Touchpoint = { note: say };
  wait();
  function ready(f) {
    d.readyState == "loading" ? d.addEventListener("DOMContentLoaded", f) : f();
  }
  // The web locale code names ("fr", not "fr-CA": as the widget reads data-locale), or false.
  function web(l) {
    l = (l || "").toLowerCase();
    return W.hasOwnProperty(l) && l;
  }
  function use(n) {
    m = n;
    T.open = open;
    T.close = n.close;
    // Only an agent page with its key may ask for invitations.
    T.postCall = c.mode == "agent" && c.agentKey ? n.postCall : function () { say(8); };
    q.splice(0).forEach(function (x) { T[x[0]](x[1]); });
  }
  // Each web locale imports the one glue under its own #fragment: its own module instance (one
  // instance per wasm), the same download.
  // A failed load calls z (if given) and is tried again under a new #fragment (a failed import is
  // not reused).
  function boot(f, l, z) {
    import(new URL(f[0] + (l ? "#" + l + (K ? "." + K : "") : ""), u).href).then(function (n) {
      return n.default(new URL(f[1], u)).then(function () {
        ready(function go() {
          // A press on the loader's launcher ends (its click queues the opening) before the
          // module's launcher takes its place.
          if (Z) return Z = go;
          M[l] = n;
          n.start(c);
          if (h) {
            // The focus the loader's launcher had goes to the module's, unless the survey opens.
            l = h.shadowRoot.activeElement;
            h.remove();
            h = 0;
            l && !q.length && n.close();
          }
          use(n);
        });
      });
    }).catch(function (e) {
      fail(e);
      z && z();
    });
  }
  // The survey's module, once: on intent, or at once where no launcher waits for it. A load that
  // failed (the collector unreachable) is tried again on the next intent.
  function want() {
    S || boot([G, W[L]], S = L, function () { S = 0; K++; });
  }
  // The launcher until the module comes; the module's own then replaces it (see boot).
  function draw() {
    var x = X[L], k = new CSSStyleSheet(), r, e = d.createElement("button");
    h = d.createElement("touchpoint-widget");
    h.setAttribute("mode", "launcher");
    h.lang = L;
    h.dir = x[1] ? "rtl" : "ltr";
    r = h.attachShadow({ mode: "open" });
    k.replaceSync(C);
    r.adoptedStyleSheets = [k];
    e.className = e.part = "launcher";
    e.type = "button";
    e.textContent = x[0];
    e.setAttribute("aria-haspopup", "dialog");
    e.setAttribute("aria-expanded", false);
    ["pointerover", "focus", "touchstart"].forEach(function (v) { e.addEventListener(v, want); });
    e.onpointerdown = function () { Z = 1; };
    e.onclick = function () {
      T.open();
      up();
    };
    // A press that ends elsewhere: the click, if any, is dispatched first.
    ["pointerup", "pointercancel"].forEach(function (v) {
      w.addEventListener(v, function () { setTimeout(up); });
    });
    r.appendChild(e);
    d.body.appendChild(h);
  }
  // The press is over: the module's launcher may take the place of the loader's.
  function up() {
    var g = Z;
    Z = 0;
    g && g.call && g();
  }
  function fail(e) {
    console.error("touchpoint: the widget could not load", e);
  }
  // open({locale}) in another web locale: the survey on show leaves the page (kept, for a return
  // to its locale) and that locale's module shows its own.
  function open(o) {
    var l = L && web(o && o.locale);
    // open()'s options get the tag's messages; the module ignores a wrong one.
    if (o) {
      bad(o, "touchpoint") && say(1);
      bad(o, "locale") && say(4);
      bad(o, "interactionId") && say(6);
    }
    if (!l || l == L) return m.open(o);
    H[L] = [].map.call(d.querySelectorAll("touchpoint-widget"), function (h) {
      var r = [h, h.parentNode];
      h.remove();
      return r;
    });
    L = c.locale = l;
    wait();
    q.push(["open", o]);
    if (M[l]) {
      H[l].forEach(function (r) { r[1].appendChild(r[0]); });
      use(M[l]);
    } else boot([G, W[l]], l);
  }
  try {
    new WebAssembly.Module(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]));
  } catch (e) {
    // No WebAssembly here: the iframe fallback, a module of its own.
    return import(new URL("@FALLBACK@", u).href).then(function (m) {
      ready(function () { m.frame(c, d); });
    }).catch(fail);
  }
  if (c.mode == "kiosk" || c.mode == "agent" || c.invitation != null) boot(@CHANNELS@);
  else {
    L = web(c.locale) || web((navigator.language || "").split(/[-_]/)[0]) || "en";
    // A launcher page waits for intent; an inline page loads its module now; without a
    // touchpoint there is no survey to show (until open() names one).
    c.touchpoint && ((c.mode || "launcher") == "launcher" ? ready(draw) : want());
    // Answers earlier pages left (the outbox's keys): the module's courier sends them now, whether
    // or not this page's survey is ever opened (the kiosk and agent module sends its own).
    try {
      Object.keys(localStorage).some(function (k) {
        return !k.indexOf("touchpoint:outbox:");
      }) && want();
    } catch (e) {}
  }
})(window, document);
