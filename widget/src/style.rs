//! The widget's only styles, adopted by its shadow root as a constructable stylesheet. `:host` resets
//! everything the page could pass down; sites theme the widget through these custom properties:
//! `--tp-accent`, `--tp-accent-text`, `--tp-bg`, `--tp-fg`, `--tp-muted`, `--tp-border`, `--tp-font`,
//! `--tp-radius`, `--tp-z`, and through the parts `launcher`, `panel`, `close`, `question`,
//! `option`, `comment`, `send` and `status`; kiosk mode adds `attract`, `language`, `countdown`,
//! `queued` and `larger`, agent mode `invite`, `link`, `qr` and `assist`.

/// The launcher's rules (only what the launcher needs: every visitor downloads them in the
/// loader): the start of every module's sheet (a web module gets them from the loader), and the
/// whole of the sheet the loader draws its launcher with until a web page's module comes (and the
/// iframe fallback its launcher). `cargo xtask` reads them from here (the string below, as it is written), so the
/// launcher looks the same whoever draws it and its rules are written once.
// A web module does not expand it: the build copies it into the loader, which passes it on.
#[cfg_attr(not(feature = "channels"), allow(unused_macros))]
macro_rules! launcher_css {
    () => {
        "\
:host{all:initial!important;display:block!important;\
--a:var(--tp-accent,#1a56db);--at:var(--tp-accent-text,#fff);--r:var(--tp-radius,10px);\
font:15px/1.4 var(--tp-font,system-ui,-apple-system,'Segoe UI',Roboto,sans-serif)!important}\
:host([mode=launcher]){position:fixed!important;bottom:16px!important;right:16px!important;\
z-index:var(--tp-z,2147483000)!important}\
*{box-sizing:border-box;font:inherit;color:inherit;margin:0}\
[hidden]{display:none!important}\
button{cursor:pointer;min-height:44px;min-width:44px;border:0;border-radius:var(--r)}\
:focus-visible{outline:3px solid var(--a);outline-offset:2px}\
.launcher{background:var(--a);color:var(--at);border:0;border-radius:999px;padding:0 20px;\
font-weight:600;box-shadow:0 2px 8px #0004}"
    };
}

/// The rules every page needs after the launcher's.
macro_rules! web_css {
    () => {
        "\
:host{--bg:var(--tp-bg,#fff);--fg:var(--tp-fg,#1f2328);--mu:var(--tp-muted,#57606a);\
--bd:var(--tp-border,#6e7781);color:var(--fg)!important}\
[inert]{visibility:hidden}\
button{padding:0 12px;border:1px solid var(--bd);background:var(--bg)}\
.panel{background:var(--bg);color:var(--fg);border:1px solid var(--bd);border-radius:var(--r);\
padding:16px;width:min(400px,calc(100vw - 32px))}\
:host([mode=launcher]) .panel{position:absolute;bottom:56px;right:0;max-height:calc(100vh - 96px);\
overflow:auto;box-shadow:0 8px 24px #0005}\
:host([mode=launcher]) .panel:not([inert]){animation:tp-in .15s ease-out}\
@keyframes tp-in{from{opacity:0;transform:translateY(8px)}}\
@media (prefers-reduced-motion:reduce){*{animation:none!important;transition:none!important}}\
.head{display:flex;justify-content:space-between;align-items:center;gap:8px}\
h2{font-size:17px;font-weight:600}\
.close{border:0;font-size:22px;line-height:1;padding:0}\
.q{margin-top:16px}\
.qt{font-weight:600;margin-bottom:8px}\
.opts{display:flex;flex-wrap:wrap;gap:4px}\
.opt{flex:1 1 0;padding:0 2px;min-width:40px}\
.em{display:flex;flex-direction:column;align-items:center;justify-content:center;font-size:13px;\
padding:4px 2px;min-width:60px}\
.em span:first-child{font-size:22px;line-height:1.2}\
.opt[aria-checked=true]{background:var(--a);color:var(--at);border-color:var(--a)}\
.ends{display:flex;justify-content:space-between;gap:8px;font-size:13px;color:var(--mu);margin-top:4px}\
.ct{display:block;font-weight:600;margin:16px 0 8px}\
.ct span{font-weight:400;color:var(--mu)}\
textarea{display:block;width:100%;min-height:72px;padding:8px;border:1px solid var(--bd);\
border-radius:var(--r);background:var(--bg);resize:vertical}\
.send{display:block;width:100%;margin-top:16px;background:var(--a);color:var(--at);border:0;\
font-weight:600}\
.status{margin-top:12px;font-weight:600}\
.status:empty{margin:0}"
    };
}

/// The stylesheet of the web module (launcher and inline panel) after the launcher's rules, which
/// the loader carries and passes to `start` (`css`): a visitor who answers downloads them once.
#[cfg(not(feature = "channels"))]
pub const CSS: &str = web_css!();

/// The web module's whole stylesheet: the launcher's rules the loader passed, then its own.
#[cfg(not(feature = "channels"))]
pub fn sheet(config: &crate::config::Config) -> alloc::string::String {
    crate::dom::join(&[config.launcher_css.as_deref().unwrap_or_default(), CSS])
}

/// The stylesheet of the module with the kiosk and agent channels, whole (a kiosk's loader draws
/// no launcher).
#[cfg(feature = "channels")]
pub const CSS: &str = concat!(
    launcher_css!(),
    web_css!(),
    "\
:host([mode=kiosk]){position:fixed!important;inset:0!important;overflow:auto!important;\
z-index:var(--tp-z,2147483000)!important;background:var(--bg)!important;font-size:22px!important;\
user-select:none!important;-webkit-user-select:none!important;touch-action:pan-x pan-y!important;\
-webkit-touch-callout:none!important;display:flex!important;flex-direction:column!important}\
:host([mode=kiosk]) button{min-height:64px;min-width:64px}\
:host([mode=kiosk]) .panel{margin:24px auto;width:min(760px,calc(100vw - 32px));border:0}\
:host([mode=kiosk]) h2{font-size:28px}\
:host([mode=kiosk]) .em{font-size:18px}\
:host([mode=kiosk]) .em span:first-child{font-size:40px}\
:host([mode=kiosk]) textarea{user-select:text;-webkit-user-select:text}\
.tools{display:flex;justify-content:flex-end;padding:12px 16px 0}\
.attract{flex:1 0 auto;display:flex;flex-direction:column;align-items:center;justify-content:center;\
gap:24px;padding:24px;text-align:center}\
.attract h1{font-size:40px;font-weight:700}\
.langs{display:flex;flex-wrap:wrap;justify-content:center;gap:16px}\
.lang{min-width:200px;min-height:80px;font-size:26px;font-weight:600;background:var(--a);color:var(--at);border:0}\
.countdown{position:fixed;top:16px;left:50%;transform:translateX(-50%);background:var(--fg);color:var(--bg);\
padding:8px 20px;border-radius:999px;font-weight:600}\
.queued{position:fixed;bottom:8px;right:12px;font-size:13px;color:var(--mu)}\
.invite{margin-bottom:12px}\
.invite a{color:var(--a);word-break:break-all}\
.qr{display:block;margin:12px 0;background:#fff}\
:host([large]){font-size:44px!important;overflow-wrap:anywhere!important}\
:host([large]) button{min-height:128px;min-width:128px}\
:host([large]) .panel{width:auto;margin:24px 16px}\
:host([large]) h2,:host([large]) .close{font-size:56px}\
:host([large]) .em{font-size:36px}\
:host([large]) .em span:first-child{font-size:80px}\
:host([large]) .ends{font-size:26px}\
:host([large]) textarea{min-height:144px}\
:host([large]) .attract h1{font-size:80px}\
:host([large]) .lang{min-width:min(400px,100%);min-height:160px;font-size:52px}"
);

/// The kiosk and agent module's whole stylesheet.
#[cfg(feature = "channels")]
pub fn sheet(_: &crate::config::Config) -> alloc::string::String {
    CSS.into()
}
