// The widget's console messages, by number: a script tag's wrong or missing settings, open()'s
// wrong options, a second tag and postCall() off an agent page, which the loader checks (for every
// module), then what a module reports while it runs (storage, a refused answer, a missing target,
// an old browser, a bug), whose number it hands the loader. The loader imports this module only
// when a message is due, so a page where all is well never downloads these words. The widget's
// README lists them by number ("Console messages").
// Lines starting with // are removed from the built file.
var V = " invalid (1-64 characters of A-Z a-z 0-9 . _ : / -)", N = [
  [1, "no collector URL (the loader derives it from the script's src); nothing is sent"],
  [1, "data-touchpoint is missing or" + V + "; the survey is not shown"],
  [0, 'data-mode must be "launcher", "inline", "kiosk" or "agent"; using launcher'],
  [1, 'data-mode="inline" needs data-target, a CSS selector of the element to render into'],
  [0, "data-locale must be one of en, es, fr, de, ar; using the browser's language"],
  [0, "data-segment is" + V + "; ignored"],
  [0, "data-interaction or interactionId is" + V + "; ignored"],
  [0, "the widget is already on this page; the second script tag is ignored"],
  [1, 'postCall works with data-mode="agent" and data-agent-key on the script tag'],
  // The module's own, while it runs (widget/src/dom.rs, `Note`): it hands the loader the number.
  [0, "localStorage is unavailable or full; unsent answers are kept only while this page is open"],
  [0, "the outbox is full; the oldest unsent answer was dropped"],
  [0, "the collector refused an answer for good (HTTP 4xx); it was dropped"],
  [1, "data-target matches no element on the page; the survey is not shown"],
  [0, "this browser lacks constructable stylesheets; the survey is not shown"],
  [1, "internal error; the widget stopped"]
];
// Message n: an error where the widget cannot work as asked, else a warning.
export function say(n) {
  console[N[n][0] ? "error" : "warn"]("touchpoint: " + N[n][1]);
}
